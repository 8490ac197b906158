"""Benchmark-only graph: the product's agent with deepagents' `LocalShellBackend` instead of Docker.

It is the floor for sections 4 and 5: the same model, system prompt, tools,
human-in-the-loop gates, middleware and context schema as `agent/graph.py`, so the
only thing that differs is where commands and files go (an unsandboxed shell and
directory on the host). The background-process tools are offered too, bound to the
served deployment's processes though the benchmark never calls them: every tool's
schema goes out with every model call, so a floor without them would send a
smaller request than the graph it stands for. Never serve this outside the
benchmark: `LocalShellBackend` runs whatever the model asks, as the server's user.

Served by `benchmarks/langgraph.local.json`, which is the product's `langgraph.json`
with only this graph in place of ours: the same HTTP app and auth run around every
request of both, so what a turn costs beyond the floor is the sandbox's, not the
server's. `BENCH_LOCAL_SHELL_ROOT` names the directory the backend works in
(shared by all threads, like `LocalShellBackend` itself).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from deepagents.backends import LocalShellBackend

from agent.graph import AgentGraph, assemble_agent
from agent.process_tools import process_tools
from config.model import ModelSettings
from sandbox.coordination.process_state import sandbox_process

ROOT_VARIABLE = "BENCH_LOCAL_SHELL_ROOT"


def build_local_shell_agent(root_dir: Path, model_settings: ModelSettings | None = None) -> AgentGraph:
    """The product's agent, with every file and shell tool backed by `LocalShellBackend(root_dir)`."""
    backend = LocalShellBackend(root_dir=root_dir, virtual_mode=True, inherit_env=True)
    return assemble_agent(backend, model_settings, tools=process_tools(sandbox_process().deployment.processes))


agent = build_local_shell_agent(Path(os.environ.get(ROOT_VARIABLE) or tempfile.mkdtemp(prefix="bench-local-shell-")))
