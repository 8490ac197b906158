"""The create_run check's server glue: what it reads, and what it never reveals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import Auth
from starlette.authentication import SimpleUser

from config.sandbox import SandboxSettings
from sandbox.runs.audit import AuditLog
from server import approval_audit, approval_checks, auth, engine
from server.engine import StoredThread
from tests.support.pending_thread import INTERRUPT_ID, STORED, read_pending_thread


@pytest.fixture(autouse=True)
def stored_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approval_checks, "read_thread", read_pending_thread)


def run(resume: object, *, assistant: str = "a1", thread: str = "t1", **kwargs: Any) -> Auth.types.RunsCreate:
    return {"thread_id": thread, "assistant_id": assistant, "kwargs": {"command": {"resume": resume}, **kwargs}}  # type: ignore[typeddict-item]


async def test_valid_resume_passes_and_returns_decisions() -> None:
    [decision] = await approval_checks.refuse_bad_resume(run({"decisions": [{"type": "reject"}]}))
    assert (decision.tool, decision.type, decision.interrupt_id) == ("execute", "reject", INTERRUPT_ID)


async def test_disallowed_type_and_other_assistant_are_refused() -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as bad:
        await approval_checks.refuse_bad_resume(run({"decisions": [{"type": "respond", "message": "x"}]}))
    assert bad.value.status_code == 422
    with pytest.raises(Auth.exceptions.HTTPException) as other:
        await approval_checks.refuse_bad_resume(run({"decisions": [{"type": "reject"}]}, assistant="a2"))
    assert other.value.status_code == 409


async def test_someone_elses_thread_is_neither_checked_nor_revealed() -> None:
    def only_bob(thread: StoredThread) -> bool:
        return thread.owner == "bob"

    assert await approval_checks.refuse_bad_resume(run({"decisions": "garbage"}), may_see=only_bob) == []


async def test_runs_without_resume_pass_but_run_level_policies_do_not() -> None:
    assert await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": {"input": {}}}) == []  # type: ignore[typeddict-item]
    for kwargs in ({"context": {"approval_tools": []}}, {"config": {"configurable": {"auto_approved_commands": ["ls"]}}}):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": kwargs})  # type: ignore[typeddict-item]
        assert refused.value.status_code == 422


async def test_a_missing_or_invisible_thread_is_left_to_the_server() -> None:
    assert await approval_checks.refuse_bad_resume(run({"decisions": "garbage"}, thread="t-unknown")) == []


# Aegra hands the handler the request body itself (no `kwargs`), and the graph's name as the assistant.
AGENT_ASSISTANT = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"  # uuid5(NAMESPACE_GRAPH, "agent"), as both servers derive it


def aegra_run(resume: object, *, assistant: str = "agent", **body: Any) -> dict[str, Any]:
    return {"thread_id": "t1", "assistant_id": assistant, "command": {"resume": resume}, **body}


@pytest.fixture
def paused_by_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = StoredThread("t1", "alice", {"assistant_id": AGENT_ASSISTANT, "owner": "alice"}, STORED.pending)

    async def read_thread(thread_id: str) -> StoredThread | None:
        return stored if thread_id == "t1" else None

    monkeypatch.setattr(approval_checks, "read_thread", read_thread)


@pytest.mark.usefixtures("paused_by_agent")
async def test_aegra_shaped_runs_are_checked_the_same_way() -> None:
    [decision] = await approval_checks.refuse_bad_resume(aegra_run({"decisions": [{"type": "reject"}]}))
    assert decision.type == "reject"
    with pytest.raises(Auth.exceptions.HTTPException) as bad:
        await approval_checks.refuse_bad_resume(aegra_run({"decisions": [{"type": "respond", "message": "x"}]}))
    assert bad.value.status_code == 422
    with pytest.raises(Auth.exceptions.HTTPException) as other:
        await approval_checks.refuse_bad_resume(aegra_run({"decisions": [{"type": "reject"}]}, assistant="a2"))
    assert other.value.status_code == 409
    with pytest.raises(Auth.exceptions.HTTPException) as policy:
        await approval_checks.refuse_bad_resume({"thread_id": "t1", "assistant_id": "agent", "context": {"approval_tools": []}})
    assert policy.value.status_code == 422


def test_the_graph_name_and_its_derived_assistant_id_are_the_same_assistant() -> None:
    assert approval_checks.same_assistant("agent", AGENT_ASSISTANT)
    assert approval_checks.same_assistant(AGENT_ASSISTANT, AGENT_ASSISTANT)
    assert not approval_checks.same_assistant("other", AGENT_ASSISTANT)


@pytest.mark.usefixtures("paused_by_agent")
async def test_v2_commands_are_checked_as_resumes() -> None:
    respond = {"thread_id": "t1", "method": "input.respond", "params": {"response": {"decisions": [{"type": "respond", "message": "x"}]}}}
    with pytest.raises(Auth.exceptions.HTTPException) as bad:
        await approval_checks.refuse_bad_resume(respond)
    assert bad.value.status_code == 422
    targeted = {"interrupt_id": INTERRUPT_ID, "response": {"decisions": [{"type": "approve"}]}}
    [decision] = await approval_checks.refuse_bad_resume({"thread_id": "t1", "method": "input.respond", "params": targeted})
    assert decision.type == "approve"
    # Aegra takes run.start input to a paused thread as the answer: a chat message is no answer.
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    start = {"thread_id": "t1", "method": "run.start", "params": {"assistant_id": "agent", "input": chat}}
    with pytest.raises(Auth.exceptions.HTTPException):
        await approval_checks.refuse_bad_resume(start)


async def test_v2_run_start_on_a_thread_that_waits_on_nothing_is_a_new_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    idle = StoredThread("t1", "alice", {"assistant_id": AGENT_ASSISTANT}, {})

    async def read_thread(_thread_id: str) -> StoredThread:
        return idle

    monkeypatch.setattr(approval_checks, "read_thread", read_thread)
    start = {"thread_id": "t1", "method": "run.start", "params": {"assistant_id": "agent", "input": {"messages": []}}}
    assert await approval_checks.refuse_bad_resume(start) == []


@pytest.mark.parametrize(
    "command",
    [
        {"goto": "tools"},
        {"update": {"messages": []}},
        {"resume": {"decisions": [{"type": "reject"}]}, "goto": "tools"},
        {"goto": ["tools"], "update": {}},
    ],
)
async def test_commands_that_write_state_or_jump_are_refused_on_any_thread(command: dict[str, Any]) -> None:
    for thread in ("t1", "missing"):
        value = {"thread_id": thread, "assistant_id": "a1", "kwargs": {"command": command}}
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            await approval_checks.refuse_bad_resume(value)
        assert refused.value.status_code == 422
        assert "nothing was run" in str(refused.value.detail)


async def test_a_v2_answer_carrying_a_jump_is_refused() -> None:
    params = {"interrupt_id": INTERRUPT_ID, "response": {"decisions": [{"type": "reject"}]}, "goto": "tools"}
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        await approval_checks.refuse_bad_resume({"thread_id": "t1", "method": "input.respond", "params": params})
    assert "command.goto" in str(refused.value.detail)


@pytest.mark.parametrize(
    "source",
    [
        {"context": {"sandbox_image": "127.0.0.1:5000/evil:1"}},
        {"config": {"configurable": {"sandbox_image": "python:3.13-slim-other"}}},
        {"context": {"sandbox_image": ["a", "list"]}},
    ],
)
def test_an_image_off_the_allow_list_is_422(source: dict[str, Any]) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        approval_checks.refuse_disallowed_image(source)
    assert refused.value.status_code == 422
    assert "SANDBOX_ALLOWED_IMAGES" in str(refused.value.detail)


def test_the_servers_own_image_and_listed_ones_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_IMAGE", "own:1")
    monkeypatch.setenv("SANDBOX_ALLOWED_IMAGES", " node:22 , own:1,node:22")
    # The process's settings are read once; this test reads them afresh from the environment it set.
    monkeypatch.setattr(approval_checks, "_sandbox_settings", SandboxSettings.from_env)
    assert approval_checks._sandbox_settings().allowed_images == ("node:22", "own:1")
    for image in ("own:1", "node:22", None):
        approval_checks.refuse_disallowed_image({"context": {"sandbox_image": image}}, {"config": {"configurable": {}}})


KNOWN_CHECKPOINT = "1f0c0ffe-0000-6000-8000-000000000001"


@pytest.fixture
def one_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    async def has_checkpoint(thread: StoredThread, checkpoint_id: str) -> bool:
        return (thread.thread_id, checkpoint_id) == ("t1", KNOWN_CHECKPOINT)

    monkeypatch.setattr(approval_checks, "has_checkpoint", has_checkpoint)


@pytest.mark.parametrize(
    "value",
    [
        {"thread_id": "t1", "kwargs": {"input": {}, "config": {"configurable": {"checkpoint_id": "unknown"}}}},
        {"thread_id": "t1", "assistant_id": "agent", "checkpoint_id": "unknown"},
        {"thread_id": "t1", "assistant_id": "agent", "checkpoint": {"checkpoint_id": "unknown"}, "checkpoint_id": KNOWN_CHECKPOINT},
        {"thread_id": "t1", "method": "run.start", "params": {"input": {}, "config": {"configurable": {"checkpoint_id": "unknown"}}}},
    ],
    ids=["langgraph-api", "aegra-short-form", "aegra-checkpoint-wins", "v2-run-start"],
)
@pytest.mark.usefixtures("one_checkpoint")
async def test_a_run_from_a_checkpoint_the_thread_never_saved_is_404(value: dict[str, Any]) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        await approval_checks.refuse_bad_resume(value)  # type: ignore[arg-type]
    assert refused.value.status_code == 404
    assert "nothing was run" in str(refused.value.detail)


@pytest.mark.usefixtures("one_checkpoint")
async def test_runs_from_a_saved_checkpoint_from_a_subgraph_or_on_an_invisible_thread_pass() -> None:
    saved = {"thread_id": "t1", "kwargs": {"input": {}, "config": {"configurable": {"checkpoint_id": KNOWN_CHECKPOINT}}}}
    assert await approval_checks.refuse_bad_resume(saved) == []  # type: ignore[arg-type]
    subgraph = {"thread_id": "t1", "checkpoint": {"checkpoint_id": "unknown", "checkpoint_ns": "tools:1"}}
    assert await approval_checks.refuse_bad_resume(subgraph) == []  # type: ignore[arg-type]
    elsewhere = {"thread_id": "t-unknown", "checkpoint_id": "unknown"}
    assert await approval_checks.refuse_bad_resume(elsewhere) == []  # type: ignore[arg-type]


async def test_a_runs_own_rules_are_checked_wherever_the_run_carries_them() -> None:
    good = [{"commands": ["git push"], "mode": "deny"}]
    for kwargs in ({"context": {"user_rules": good}}, {"config": {"configurable": {"user_rules": good}}}):
        assert await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": kwargs}) == []  # type: ignore[typeddict-item]
    bad = [{"commands": ["git push"], "mode": "perhaps"}]
    for kwargs in ({"context": {"user_rules": bad}}, {"config": {"configurable": {"user_rules": bad}}}):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": kwargs})  # type: ignore[typeddict-item]
        assert refused.value.status_code == 422
        assert "mode must be" in str(refused.value.detail)
    with pytest.raises(Auth.exceptions.HTTPException, match="only be set on an assistant"):
        await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": {"context": {"policy_rules": good}}})  # type: ignore[typeddict-item]


async def test_creating_a_resume_run_reads_its_thread_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The resume check and the approval audit both need the paused thread: one read serves both.

    On `langgraph dev` each read is a whole request into the server itself, and
    every approval in a turn is a run created this way.
    """
    reads: list[str] = []

    async def counted(thread_id: str) -> StoredThread | None:
        reads.append(thread_id)
        return await read_pending_thread(thread_id)

    for module in (engine, approval_checks, approval_audit):
        monkeypatch.setattr(module, "read_thread", counted)
    monkeypatch.setattr(auth, "approval_audit", lambda: AuditLog(tmp_path / "audit.jsonl"))
    ctx = Auth.types.AuthContext(user=SimpleUser("alice"), permissions=[], resource="threads", action="create_run")  # type: ignore[arg-type]

    await auth.on_run_create(ctx, run({"decisions": [{"type": "approve"}]}, metadata={}))

    assert reads == ["t1"]
    [record] = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert (record["tool"], record["decision"], record["user"]) == ("execute", "approve", "alice")
