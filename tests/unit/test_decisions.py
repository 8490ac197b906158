"""The pure resume check: what a server refuses before a run exists."""

from __future__ import annotations

import pytest

from agent.decisions import DecisionError, check_resume, is_resume_map

ID_A, ID_B = "a" * 32, "b" * 32


def request(*tools: str, allowed: tuple[str, ...] = ("approve", "edit", "reject", "respond")) -> dict:
    return {
        "action_requests": [{"name": tool, "args": {"command": "ls"}, "description": ""} for tool in tools],
        "review_configs": [{"action_name": tool, "allowed_decisions": list(allowed)} for tool in tools],
    }


def refused(resume: object, pending: dict) -> DecisionError:
    with pytest.raises(DecisionError) as caught:
        check_resume(resume, pending)
    return caught.value


def test_valid_answers_return_the_decisions() -> None:
    [decision] = check_resume({"decisions": [{"type": "approve"}]}, {ID_A: request("execute")})
    assert (decision.interrupt_id, decision.tool, decision.type) == (ID_A, "execute", "approve")
    edited = {"type": "edit", "edited_action": {"name": "execute", "args": {"command": "pwd"}}}
    by_id = check_resume({ID_B: {"decisions": [edited]}}, {ID_A: request("delete"), ID_B: request("execute")})
    assert [d.type for d in by_id] == ["edit"]


def test_a_type_the_tool_does_not_allow_is_refused() -> None:
    error = refused(
        {"decisions": [{"type": "edit", "edited_action": {"name": "execute", "args": {"command": "x"}}}]},
        {ID_A: request("execute", allowed=("approve", "reject"))},
    )
    assert error.status == 422
    assert "'edit' is not allowed for execute" in str(error)


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        ({"decisions": [{"type": "nope"}]}, "unknown decision type"),
        ({"decisions": [{"type": "approve"}] * 2}, "2 decisions for 1"),
        ({"decisions": "approve"}, "must be a list"),
        ("approve", "the answer must be"),
        ({"decisions": ["approve"]}, "a decision is an object"),
        ({"decisions": [{"type": "edit"}]}, "an edit needs edited_action"),
        ({"decisions": [{"type": "edit", "edited_action": {"name": "execute"}}]}, "edited_action.args"),
        ({"decisions": [{"type": "edit", "edited_action": {"name": "delete", "args": {}}}]}, "must keep the tool"),
        ({"decisions": [{"type": "edit", "edited_action": {"name": "execute", "args": {"command": 3}}}]}, "arguments are invalid"),
        ({"decisions": [{"type": "respond"}]}, "needs a message"),
        ({"decisions": [{"type": "reject", "message": 5}]}, "must be text"),
    ],
)
def test_malformed_answers_are_refused(resume: object, message: str) -> None:
    error = refused(resume, {ID_A: request("execute")})
    assert 400 <= error.status < 500
    assert message in str(error)


def test_ids_and_pending_state() -> None:
    assert refused({"decisions": []}, {}).status == 409
    assert refused({ID_B: {"decisions": [{"type": "approve"}]}}, {ID_A: request("execute")}).status == 409
    several = refused({"decisions": [{"type": "approve"}]}, {ID_A: request("execute"), ID_B: request("delete")})
    assert "answer them by id" in str(several)
    assert is_resume_map({ID_A: 1})
    assert not is_resume_map({"decisions": []})
    assert not is_resume_map({})


def test_interrupts_that_are_not_approvals_are_left_alone() -> None:
    assert check_resume("any value", {ID_A: "question?"}) == []
