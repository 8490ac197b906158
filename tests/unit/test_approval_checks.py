"""The create_run check's server glue: what it reads, and what it never reveals."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk import Auth

from server import approval_checks

INTERRUPT_ID = "c" * 32
THREAD = {
    "thread_id": "t1",
    "metadata": {"assistant_id": "a1", "owner": "alice"},
    "interrupts": {
        "task-1": [
            {
                "id": INTERRUPT_ID,
                "value": {
                    "action_requests": [{"name": "execute", "args": {"command": "ls"}}],
                    "review_configs": [{"action_name": "execute", "allowed_decisions": ["approve", "reject"]}],
                },
            }
        ]
    },
}


@pytest.fixture(autouse=True)
def stored_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    async def read_thread(thread_id: str) -> dict[str, Any]:
        return THREAD if thread_id == "t1" else {}

    monkeypatch.setattr(approval_checks, "read_thread", read_thread)


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
    def only_bob(thread: Any) -> bool:
        return thread["metadata"]["owner"] == "bob"

    assert await approval_checks.refuse_bad_resume(run({"decisions": "garbage"}), may_see=only_bob) == []


async def test_runs_without_resume_pass_but_run_level_policies_do_not() -> None:
    assert await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": {"input": {}}}) == []  # type: ignore[typeddict-item]
    for kwargs in ({"context": {"approval_tools": []}}, {"config": {"configurable": {"auto_approved_commands": ["ls"]}}}):
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            await approval_checks.refuse_bad_resume({"thread_id": "t1", "kwargs": kwargs})  # type: ignore[typeddict-item]
        assert refused.value.status_code == 422


async def test_a_missing_or_invisible_thread_is_left_to_the_server() -> None:
    assert await approval_checks.refuse_bad_resume(run({"decisions": "garbage"}, thread="t-unknown")) == []
