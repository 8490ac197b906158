"""Which decisions of a resume are audited, and against which tool call (no server needed)."""

from __future__ import annotations

from server.approval_audit import decision_records
from server.engine import pending_interrupts

EXECUTE = {"name": "execute", "args": {"command": "ls"}}
WRITE = {"name": "write_file", "args": {"file_path": "/workspace/a", "content": "x"}}


def _thread(*interrupts: tuple[str, list[dict[str, object]]]) -> dict[str, object]:
    return {"interrupts": {"task-1": [{"id": iid, "value": {"action_requests": requests}} for iid, requests in interrupts]}}


def test_decisions_pair_with_the_pending_calls_in_order() -> None:
    pending = pending_interrupts(_thread(("i-1", [WRITE, EXECUTE])))
    resume = {"decisions": [{"type": "approve"}, {"type": "edit", "edited_action": {"name": "execute", "args": {"command": "pwd"}}}]}
    assert decision_records(resume, pending) == [
        {"tool": "write_file", "arguments": WRITE["args"], "decision": "approve", "edited_arguments": None},
        {"tool": "execute", "arguments": EXECUTE["args"], "decision": "edit", "edited_arguments": {"command": "pwd"}},
    ]


def test_resumes_keyed_by_interrupt_id() -> None:
    pending = pending_interrupts(_thread(("i-1", [WRITE]), ("i-2", [EXECUTE])))
    resume = {"i-2": {"decisions": [{"type": "reject", "message": "no"}]}, "unknown": {"decisions": [{"type": "approve"}]}}
    assert [(r["tool"], r["decision"]) for r in decision_records(resume, pending)] == [("execute", "reject")]


def test_nothing_is_recorded_without_a_matching_pending_call() -> None:
    assert decision_records({"decisions": [{"type": "approve"}]}, {}) == []
    # With two interrupts pending, an unkeyed answer names no single one of them.
    two = pending_interrupts(_thread(("i-1", [WRITE]), ("i-2", [EXECUTE])))
    assert decision_records({"decisions": [{"type": "approve"}]}, two) == []
    assert decision_records("yes", pending_interrupts(_thread(("i-1", [WRITE])))) == []
