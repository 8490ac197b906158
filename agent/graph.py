"""The graph `langgraph.json` exports as `agent`.

It carries no checkpointer: the LangGraph server supplies persistence, threads,
runs, streaming and interrupts.
"""

from __future__ import annotations

import logging
import os
from typing import Any, cast

from deepagents import create_deep_agent
from deepagents.backends import CompositeBackend
from deepagents.backends.protocol import BackendProtocol
from deepagents.middleware.subagents import GENERAL_PURPOSE_SUBAGENT, SubAgent
from langchain.agents.middleware import AgentMiddleware, TodoListMiddleware
from langchain_core.tools import BaseTool
from langgraph.graph.state import CompiledStateGraph

from agent.approval_descriptions import ApprovalPreviews
from agent.approval_gate import ApprovalGate
from agent.approval_policy import interrupt_on
from agent.change_record import ChangeRecordMiddleware
from agent.command_journal import CommandJournal
from agent.context import AgentContext
from agent.live_output import LiveOutputMiddleware
from agent.mcp_tools import McpCalls, McpCatalog, McpToolsMiddleware
from agent.model import RequireApiKeyMiddleware, build_chat_model
from agent.model_errors import ModelErrorMiddleware
from agent.policy.enforcement import ToolPolicy
from agent.policy.loading import admin_rules_from_env
from agent.process_tools import process_tools
from agent.prompts import SYSTEM_PROMPT
from agent.workspace_snapshots import WorkspaceSnapshotMiddleware
from config.mcp import McpSettings
from config.model import ModelSettings
from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment, sandbox_process
from sandbox.containers.docker_api import require_local_engine
from sandbox.disks.artifacts import ARTIFACTS_MOUNT
from sandbox.disks.memories import MEMORY_FILE
from sandbox.runs import log_context
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots

logger = logging.getLogger(__name__)

type AgentGraph = CompiledStateGraph[Any, Any, Any, Any]
"""What `create_deep_agent` returns; its state types are deepagents' own generics."""

SKILLS_SOURCE = "/shared/skills/"
"""Skill folders (`<name>/SKILL.md`) shared by every thread, read-only; see docs/skills.md.

deepagents lists them once per thread, at its first run, so a skill added while the
server runs reaches every new thread without a restart."""

MEMORY_SOURCES = [MEMORY_FILE]
"""The run's user's long-term memory (`/memories/AGENTS.md`), loaded into each new thread's prompt.

A user without one reads as "not found", which deepagents skips; the agent creates
it with an approval-gated write_file."""

ARTIFACTS_ROOT = ARTIFACTS_MOUNT
"""deepagents' own files (large tool results, `task` results included, captured `execute`
output, summarized history) go to the thread's `/artifacts` (`sandbox.disks.artifacts`): outside
the user's `/workspace`, audited, and readable by both the shell and the file tools."""


def assemble_agent(
    backend: BackendProtocol,
    model_settings: ModelSettings | None = None,
    sandbox_settings: SandboxSettings | None = None,
    *,
    live_output: bool = True,
    snapshots: WorkspaceSnapshotMiddleware | None = None,
    tools: list[BaseTool] | None = None,
    mcp: McpCatalog | None = None,
) -> AgentGraph:
    """The deep agent around any backend: model, prompt, approvals and context are fixed here.

    Benchmarks reuse it with an unsandboxed backend, so the only difference they
    measure is where commands and files go; `live_output=False` drops the live
    `execute` output (see `agent.live_output`) to measure what streaming costs.
    `snapshots` is the workspace snapshot middleware (`agent.workspace_snapshots`): the main
    agent's restores and records, the subagent's copy (`recorder()`) only records.

    Approvals: every gateable tool is registered with HITL (as `ApprovalGate`,
    which also refuses in the tools node any gated call the approval step did
    not pass), and the run's policy (`AgentContext`) decides per call whether it
    pauses. Every command the agent or its subagent starts is journaled inside the gate
    (`agent.command_journal`), so a run re-queued after its server process died does not
    start it again. The general-purpose subagent that `task` starts is declared here so
    that it gets the same description middleware, the same gate (and the skills
    the default one would have). `mcp`: the administrator's MCP servers, whose tools the main
    agent and its subagent get (`agent.mcp_tools`); their calls run inside each one's gate, so the
    policy decides each.
    """
    model_settings = model_settings or ModelSettings.from_env()
    previews = ApprovalPreviews(backend, sandbox_settings)
    model_errors = ModelErrorMiddleware(model_settings.timeout_seconds)
    changes = ChangeRecordMiddleware(backend)
    # `write_todos`: a plan in the graph's state, which deepagents 0.7 no longer adds by itself.
    # Its state schema (todos) is narrower than the list's type says; the agent merges schemas.
    planning = cast("AgentMiddleware[Any, Any, Any]", TodoListMiddleware())
    # One permission policy decides every call (docs/permissions.md): the gate asks it, the model node records its verdicts.
    policy = ToolPolicy(admin_rules_from_env(), backend)
    gates = interrupt_on(previews.describe, policy.when, mcp.names if mcp is not None else frozenset())
    # Inside both gates (the main agent's and the subagent's; it holds no state): a run re-queued while a
    # subagent's approved command ran resumes the subagent's own checkpoint, with the same call ids.
    journal: AgentMiddleware[Any, Any, Any] = CommandJournal() if mcp is None else McpCalls(mcp, inner=CommandJournal())
    mcp_offer: list[AgentMiddleware[Any, Any, Any]] = [McpToolsMiddleware(mcp)] if mcp is not None and mcp.names else []
    # Outermost around tool calls, so the workspace is restored before any other middleware reads it.
    recording: list[AgentMiddleware[Any, Any, Any]] = [snapshots.recorder()] if snapshots is not None else []
    following: list[AgentMiddleware[Any, Any, Any]] = [snapshots] if snapshots is not None else []
    # The subagent's approvals come from its own gate; an empty `interrupt_on` keeps
    # deepagents from adding a plain HITL beside it.
    general_purpose: SubAgent = {
        **GENERAL_PURPOSE_SUBAGENT,
        "middleware": [
            *recording,
            model_errors,
            previews.middleware(),
            changes,
            *mcp_offer,
            policy.middleware(),
            ApprovalGate(interrupt_on=gates, details=previews.details, policy=policy, inner=journal),
        ],
        "skills": [SKILLS_SOURCE],
        "interrupt_on": {},
    }
    return create_deep_agent(
        model=build_chat_model(model_settings),
        system_prompt=SYSTEM_PROMPT,
        backend=backend,
        tools=tools or [],
        interrupt_on=gates,
        skills=[SKILLS_SOURCE],
        memory=MEMORY_SOURCES,
        # `ApprovalGate` carries HITL's name, so it takes the place of the HITL deepagents adds for `interrupt_on`.
        middleware=[
            *following,
            planning,
            RequireApiKeyMiddleware(model_settings),
            model_errors,
            previews.middleware(),
            changes,
            *([LiveOutputMiddleware()] if live_output else []),
            *mcp_offer,
            policy.middleware(),
            # The journal runs inside the gate, around the tool itself: it records only the commands
            # that really start (edits applied), so a re-queued run never starts one twice. MCP calls
            # run there too: only once the policy or a reviewer let them through.
            ApprovalGate(interrupt_on=gates, details=previews.details, policy=policy, inner=journal),
        ],
        subagents=[general_purpose],
        context_schema=AgentContext,
        name="agent",
    )


def build_agent(
    sandbox_settings: SandboxSettings | None = None, model_settings: ModelSettings | None = None, *, live_output: bool = True
) -> AgentGraph:
    """The served agent: every thread in its own Docker sandbox; settings default to the environment.

    Refuses to build (so the server refuses to start) when `DOCKER_HOST` names an
    engine on another machine. Docker itself is first contacted by the first
    sandbox call (`SandboxDeployment.start()`), so the server starts while Docker is down.
    """
    if sandbox_settings is None:  # the served graph: the process's one deployment, shared with the server's routes
        deployment = sandbox_process().deployment
        sandbox_settings = deployment.settings
    else:
        deployment = SandboxDeployment(sandbox_settings)
    require_local_engine(os.environ.get("DOCKER_HOST"))  # after reading settings, which loads `.env`
    # Operators read the startup log to see which image (chosen by them or by
    # scripts/start.sh) every sandbox of this server will run.
    logger.info("Sandboxes use image %s (SANDBOX_IMAGE), mode %s", sandbox_settings.image, sandbox_settings.mode)
    sandbox = DockerSandbox.for_runs(deployment)
    backend = CompositeBackend(default=sandbox, routes={}, artifacts_root=ARTIFACTS_ROOT)
    snapshots = WorkspaceSnapshotMiddleware(WorkspaceSnapshots(sandbox_settings), sandbox.thread)
    # Background processes: tools of the main agent only (a subagent's work ends with its task).
    tools = process_tools(deployment.processes)
    # MCP servers: read now, so a bad MCP_SERVERS_FILE stops the server naming the file (docs/mcp.md).
    servers = McpSettings.from_env().servers()
    if servers:
        logger.info("MCP servers from MCP_SERVERS_FILE: %s", ", ".join(server.name for server in servers))
    mcp = McpCatalog(servers, deployment.mcp, sandbox_settings.image, float(sandbox_settings.max_timeout_seconds))
    return assemble_agent(backend, model_settings, sandbox_settings, live_output=live_output, snapshots=snapshots, tools=tools, mcp=mcp)


log_context.install()  # every log line of a run names its user, thread, run and command
agent = build_agent()
