"""Structural guard: every tool the served graph offers that can change files or run code is gated.

The tools are read from the compiled graph (its `tools` node), not from a list in
this test, so a tool the next deepagents release adds fails here until it is
classified. `task` starts a subagent; instead of gating `task`, the subagent's
own tools must be gated the same way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent.approval_gate import ApprovalGate
from agent.approval_policy import GATED_BY_DEFAULT, READ_ONLY_TOOLS, STATE_ONLY_TOOLS, SUBAGENT_TOOL
from agent.context import AgentContext
from agent.graph import build_agent
from agent.policy.enforcement import VERDICTS_KEY, ToolPolicy
from config.model import ModelSettings
from config.sandbox import SandboxSettings

EXPECTED_READ_ONLY = {"ls", "read_file", "glob", "grep"}
"""Listed by name, so adding a tool here is a visible decision: these only read, so they never pause by default."""

SAMPLE_ARGS: dict[str, dict[str, Any]] = {
    "execute": {"command": "rm -rf /workspace/x"},
    "write_file": {"file_path": "/workspace/a.txt", "content": "x\n"},
    "edit_file": {"file_path": "/workspace/a.txt", "old_string": "x", "new_string": "y"},
    "delete": {"file_path": "/workspace/a.txt"},
    "start_process": {"command": "python3 -m http.server 8000"},
    "send_input": {"process_id": "p000000000000", "text": "rm -rf /workspace\n"},
}

EXPECTED_PROCESS_CONTROL = {"list_processes", "process_output", "stop_process"}
"""Background-process tools that start nothing: they look at, or end, what an approved call started."""


@pytest.fixture(scope="module")
def served_graph(tmp_path_factory: pytest.TempPathFactory) -> CompiledStateGraph:
    base = tmp_path_factory.mktemp("gating")
    settings = SandboxSettings(workspaces_dir=base / "workspaces", shared_dir=base / "shared")
    model = ModelSettings(api_key="unused", api_base="http://127.0.0.1:9/v1", model="m", thinking=False, timeout_seconds=1)
    return build_agent(settings, model)


def offered_tools(graph: CompiledStateGraph) -> dict[str, Any]:
    return dict(graph.nodes["tools"].bound.tools_by_name)


def hitl_of(graph: CompiledStateGraph) -> HumanInTheLoopMiddleware:
    node = graph.nodes.get("HumanInTheLoopMiddleware.after_model")
    assert node is not None, f"no HumanInTheLoopMiddleware in {graph.name}: nothing would pause"
    hitl = node.bound.func.__self__
    assert isinstance(hitl, HumanInTheLoopMiddleware)
    # The gate also locks the tools node: a gated call runs only after this node passed it.
    assert isinstance(hitl, ApprovalGate), f"{graph.name} pauses with a plain HITL: its tools node would run unapproved calls"
    return hitl


def gated_by_default(hitl: HumanInTheLoopMiddleware, name: str) -> bool:
    """What the served middleware decides for a call of `name` under the default policy."""
    config = hitl.interrupt_on.get(name)
    if config is None:
        return False
    call = {"name": name, "args": SAMPLE_ARGS.get(name, {}), "id": "call-1", "type": "tool_call"}
    return hitl._should_interrupt(call, config, {"messages": []}, Runtime(context=AgentContext()))  # type: ignore[arg-type]


def subagent_graphs(task_tool: Any) -> dict[str, CompiledStateGraph]:
    """The compiled subagents the `task` tool starts (held in its closure by deepagents)."""
    cells = dict(zip(task_tool.func.__code__.co_freevars, task_tool.func.__closure__ or (), strict=True))
    assert "subagent_graphs" in cells, "deepagents changed how `task` holds its subagents: update this guard"
    graphs = cells["subagent_graphs"].cell_contents
    assert graphs, "the task tool offers no subagents"
    return graphs


STATE_KEYS = {"todos", "messages"}
"""What a state-only tool may update: the graph's own channels, nothing that reaches a workspace."""


def assert_state_only(graph: CompiledStateGraph, name: str, tool: Any) -> None:
    """The tool's call returns only an update of the graph's state (its `func`, with the one runtime field it reads)."""
    result = tool.func(runtime=SimpleNamespace(tool_call_id="call-1"), todos=[{"content": "x", "status": "pending"}])
    assert isinstance(result, Command), f"{graph.name}: state-only tool {name} returned {type(result).__name__}, not a state update"
    assert isinstance(result.update, dict)
    assert set(result.update) <= STATE_KEYS, f"{graph.name}: state-only tool {name} updates {sorted(result.update)}"
    assert set(result.update) - {"messages"} <= set(graph.channels), f"{graph.name}: {name} updates a key the graph does not hold"


def assert_gated_like_the_policy(graph: CompiledStateGraph, seen: set[str]) -> None:
    hitl = hitl_of(graph)
    tools = offered_tools(graph)
    for name, tool in sorted(tools.items()):
        if name in EXPECTED_READ_ONLY | EXPECTED_PROCESS_CONTROL:
            assert not gated_by_default(hitl, name), f"{graph.name}: read-only tool {name} should not pause"
        elif name in STATE_ONLY_TOOLS:
            assert name not in hitl.interrupt_on, f"{graph.name}: state-only tool {name} should never pause"
            assert_state_only(graph, name, tool)
        elif name == SUBAGENT_TOOL:
            assert not gated_by_default(hitl, name), f"{graph.name}: `task` itself should not pause; its subagent's tools do"
            for sub_name, sub_graph in subagent_graphs(tool).items():
                if sub_name not in seen:
                    seen.add(sub_name)
                    assert_gated_like_the_policy(sub_graph, seen)
        else:
            assert gated_by_default(hitl, name), (
                f"{graph.name}: tool {name!r} can change files or run code (it is not a known read-only tool) "
                "but does not pause for approval by default"
            )


def test_policy_lists_agree_with_the_issue() -> None:
    assert set(GATED_BY_DEFAULT) == {"execute", "write_file", "edit_file", "delete", "start_process", "send_input"}
    assert set(READ_ONLY_TOOLS) == EXPECTED_READ_ONLY


def test_every_tool_that_changes_files_or_runs_code_is_gated(served_graph: CompiledStateGraph) -> None:
    tools = offered_tools(served_graph)
    # The served graph offers the tools the docs say pause (docs/approvals.md); a new tool fails below until it is classified.
    served = {"execute", "write_file", "edit_file", "delete", "task", "write_todos", "start_process", "send_input"}
    assert served <= set(tools), sorted(tools)
    assert_gated_like_the_policy(served_graph, set())


def test_subagent_offers_the_same_gated_tools(served_graph: CompiledStateGraph) -> None:
    [(name, sub_graph)] = subagent_graphs(offered_tools(served_graph)["task"]).items()
    assert name == "general-purpose"
    sub_tools = set(offered_tools(sub_graph))
    assert {"execute", "write_file", "edit_file", "delete"} <= sub_tools, sorted(sub_tools)
    hitl = hitl_of(sub_graph)
    assert all(gated_by_default(hitl, tool) for tool in GATED_BY_DEFAULT)


def test_guard_catches_an_ungated_tool(served_graph: CompiledStateGraph) -> None:
    """The guard itself can fail: drop `delete` from the served HITL config and it does."""
    hitl = hitl_of(served_graph)
    saved = hitl.interrupt_on.pop("delete")
    try:
        with pytest.raises(AssertionError, match="'delete' can change files"):
            assert_gated_like_the_policy(served_graph, set())
    finally:
        hitl.interrupt_on["delete"] = saved


def test_every_graph_records_verdicts_and_its_gate_denies_by_the_same_policy(served_graph: CompiledStateGraph) -> None:
    """The main graph and the subagent both record the policy's verdicts in their model node and deny through their gate."""
    [(_, sub_graph)] = subagent_graphs(offered_tools(served_graph)["task"]).items()
    policies = []
    for graph in (served_graph, sub_graph):
        gate = hitl_of(graph)
        assert isinstance(gate, ApprovalGate)
        assert isinstance(gate.policy, ToolPolicy), f"{graph.name}: its gate does not consult the permission policy"
        assert VERDICTS_KEY in graph.channels, f"{graph.name}: nothing records the policy's verdicts"
        policies.append(gate.policy)
    assert policies[0] is policies[1]
