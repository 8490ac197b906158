"""How a snapshot id reaches the graph state: which calls snapshot, the reducer, and the tool result it rides on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from agent import workspace_snapshots
from agent.graph import build_agent
from agent.workspace_snapshots import STATE_KEY, WorkspaceSnapshotMiddleware, _changed_path, _with_snapshot
from config.model import ModelSettings
from config.sandbox import SandboxSettings
from sandbox.disks.workspace import ThreadRef
from sandbox.snapshots.manifest import Exclusions, is_snapshot_id, latest_snapshot
from sandbox.snapshots.thread_snapshots import workspace_relative

EARLY, LATE = "0000000002-00000000000000aa", "0000000010-00000000000000bb"


class Request:
    """The part of a `ToolCallRequest` the middleware reads."""

    def __init__(self, name: str, **args: Any) -> None:
        self.tool_call = {"name": name, "args": args, "id": "call-1"}


def test_the_reducer_keeps_the_later_of_two_ids_and_ignores_anything_else() -> None:
    assert latest_snapshot(EARLY, LATE) == LATE
    assert latest_snapshot(LATE, EARLY) == LATE
    assert latest_snapshot(None, EARLY) == EARLY
    assert latest_snapshot(EARLY, "../../etc/passwd") == EARLY
    assert latest_snapshot("junk", LATE) == LATE


@pytest.mark.parametrize("value", ["", "1-abc", "0000000001-0123456789abcdeg", "../0000000001-0123456789abcdef", 7, None])
def test_only_well_formed_ids_can_name_a_snapshot(value: object) -> None:
    assert not is_snapshot_id(value)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("write_file", {"file_path": "/workspace/a.txt"}, (True, "/workspace/a.txt")),
        ("edit_file", {"file_path": "/workspace/d/b.py"}, (True, "/workspace/d/b.py")),
        ("delete", {"file_path": "/workspace/d"}, (True, "/workspace/d")),
        ("write_file", {"file_path": "/memories/AGENTS.md"}, (False, None)),
        ("execute", {"command": "ls"}, (True, None)),
        ("task", {"description": "x"}, (True, None)),
        ("read_file", {"file_path": "/workspace/a.txt"}, (False, None)),
    ],
)
def test_which_calls_snapshot_and_what_they_re_read(name: str, args: dict[str, Any], expected: tuple[bool, str | None]) -> None:
    assert _changed_path(Request(name, **args)) == expected  # type: ignore[arg-type]


def test_the_id_rides_on_the_tool_result() -> None:
    message = ToolMessage(content="Updated file", tool_call_id="call-1")
    result = _with_snapshot(message, LATE, None)
    assert isinstance(result, Command)
    assert result.update == {"messages": [message], STATE_KEY: LATE}
    # A subagent's own Command keeps its update; the later id wins.
    task = Command(update={"messages": [message], STATE_KEY: EARLY, "files": {}})
    merged = _with_snapshot(task, LATE, None)
    assert isinstance(merged, Command)
    assert merged.update == {"messages": [message], STATE_KEY: LATE, "files": {}}
    # A failed snapshot leaves the state alone and says so in the result.
    noted = _with_snapshot(message, None, "[workspace snapshot failed]")
    assert isinstance(noted, ToolMessage)
    assert noted.content == "Updated file\n[workspace snapshot failed]"


def test_paths_map_to_the_workspace_and_exclusions_match_names_or_paths() -> None:
    assert workspace_relative("/workspace/a//b/./c") == "a/b/c"
    assert workspace_relative("/workspace") == ""
    assert workspace_relative("/workspaces/x") is None
    assert workspace_relative("/workspace/../etc") is None
    rules = Exclusions(("node_modules", "*.log", "build/cache"))
    assert rules.excluded("node_modules")
    assert rules.excluded("web/node_modules")
    assert rules.excluded("logs/run.log")
    assert rules.excluded("build/cache")
    assert not rules.excluded("src/build/cache")
    assert not rules.excluded("node_modules_backup")


def test_a_run_already_aligned_checks_on_the_event_loop_without_a_thread_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once per run the workspace is aligned in a worker thread; every later model call of the run only asks a dict."""
    restored: list[object] = []

    class Snapshots:
        def restore(self, user_id: str, thread_id: str, target: object) -> None:
            restored.append(target)

    middleware = WorkspaceSnapshotMiddleware(Snapshots(), lambda: ThreadRef(user_id="u", thread_id="t-1", image="image"))  # type: ignore[arg-type]
    monkeypatch.setattr(workspace_snapshots, "current_run_id", lambda: "run-1")
    hops: list[object] = []
    to_thread = asyncio.to_thread

    async def counting(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(function)
        return await to_thread(function, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)

    request = SimpleNamespace(state={"messages": []})

    async def answer(_: object) -> str:
        return "answer"

    async def steps() -> None:
        for _ in range(3):
            assert await middleware.awrap_model_call(request, answer) == "answer"  # type: ignore[arg-type]

    asyncio.run(steps())
    assert restored == [None]
    assert len(hops) == 1


def test_the_snapshot_middleware_adds_no_step_to_a_run(tmp_path: Path) -> None:
    """Each node is a superstep (a checkpoint, stream events): the alignment rides inside the model and tool calls instead."""
    settings = SandboxSettings(workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared")
    model = ModelSettings(api_key="unused", api_base="http://127.0.0.1:9/v1", model="m", thinking=False, timeout_seconds=1)
    graph = build_agent(settings, model)
    assert [node for node in graph.nodes if node.startswith("WorkspaceSnapshotMiddleware")] == []
    assert STATE_KEY in graph.get_output_jsonschema()["properties"]
