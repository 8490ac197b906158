"""Checks a resume (`Command(resume=...)`) against the approvals a thread is waiting on.

HITL validates decisions only after `interrupt()` has recorded them, and the
server keeps that answer with the failed run and replays it on every later
resume: one malformed answer would make the approval unanswerable for good. So
the server refuses a malformed resume before any run exists (see
`server/approval_checks.py`); this module is the pure part: given the resume and
the pending interrupts, it says what is wrong, or returns the decisions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deepagents.middleware.filesystem import DeleteSchema, EditFileSchema, ExecuteSchema, WriteFileSchema
from pydantic import BaseModel, ValidationError

DECISION_TYPES = ("approve", "edit", "reject", "respond")
"""What `HumanInTheLoopMiddleware` understands."""

EDIT_ARGUMENTS: Mapping[str, type[BaseModel]] = {
    "execute": ExecuteSchema,
    "write_file": WriteFileSchema,
    "edit_file": EditFileSchema,
    "delete": DeleteSchema,
}
"""The argument schemas the gated tools' own calls are checked against, used for edits too."""

_INTERRUPT_ID = re.compile(r"[0-9a-f]{32}")
"""LangGraph's interrupt ids; a resume dict keyed only by these answers interrupts by id."""


class DecisionError(ValueError):
    """A resume that must be refused; `status` is the HTTP status to refuse it with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decision:
    """One validated decision, for the audit log."""

    interrupt_id: str
    tool: str
    tool_args: dict[str, Any]
    type: str


def is_resume_map(resume: object) -> bool:
    """Whether `resume` answers interrupts by id (`{interrupt_id: value}`), as LangGraph decides it."""
    return isinstance(resume, dict) and bool(resume) and all(isinstance(k, str) and _INTERRUPT_ID.fullmatch(k) for k in resume)


def _is_hitl_request(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("action_requests"), list) and isinstance(value.get("review_configs"), list)


def _check_edit(decision: Mapping[str, Any], tool: str, where: str) -> None:
    edited = decision.get("edited_action")
    if not isinstance(edited, Mapping):
        msg = f"{where}: an edit needs edited_action: {{'name': {tool!r}, 'args': {{...}}}}"
        raise DecisionError(msg)
    if edited.get("name") != tool:
        msg = f"{where}: an edit must keep the tool {tool!r}, not switch to {edited.get('name')!r}"
        raise DecisionError(msg)
    args = edited.get("args")
    if not isinstance(args, Mapping):
        msg = f"{where}: an edit needs edited_action.args, the {tool} arguments to run instead"
        raise DecisionError(msg)
    schema = EDIT_ARGUMENTS.get(tool)
    if schema is not None:
        try:
            schema.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}" for e in exc.errors())
            msg = f"{where}: edited {tool} arguments are invalid: {problems}"
            raise DecisionError(msg) from None


def _check_decision(decision: object, action: Mapping[str, Any], allowed: list[str], where: str) -> str:
    tool = str(action.get("name"))
    where = f"{where} ({tool})"
    if not isinstance(decision, Mapping):
        msg = f"{where}: a decision is an object like {{'type': 'approve'}}, got {type(decision).__name__}"
        raise DecisionError(msg)
    kind = decision.get("type")
    if kind not in DECISION_TYPES:
        msg = f"{where}: unknown decision type {kind!r}; use one of {list(DECISION_TYPES)}"
        raise DecisionError(msg)
    if kind not in allowed:
        msg = f"{where}: {kind!r} is not allowed for {tool}; allowed: {allowed}"
        raise DecisionError(msg)
    if kind == "edit":
        _check_edit(decision, tool, where)
    elif kind == "respond" and not isinstance(decision.get("message"), str):
        msg = f"{where}: a respond decision needs a message (the text the tool returns)"
        raise DecisionError(msg)
    elif kind == "reject" and decision.get("message") is not None and not isinstance(decision.get("message"), str):
        msg = f"{where}: a reject message must be text"
        raise DecisionError(msg)
    return str(kind)


def check_answer(answer: object, request: Mapping[str, Any], interrupt_id: str) -> list[Decision]:
    """Check one interrupt's answer (`{"decisions": [...]}`) against its HITL request."""
    actions: list[Mapping[str, Any]] = list(request["action_requests"])
    configs: list[Mapping[str, Any]] = list(request["review_configs"])
    if not isinstance(answer, Mapping) or "decisions" not in answer:
        msg = f"the answer must be {{'decisions': [...]}} with one decision per pending tool call ({len(actions)})"
        raise DecisionError(msg)
    decisions = answer["decisions"]
    if not isinstance(decisions, list):
        msg = f"'decisions' must be a list, got {type(decisions).__name__}"
        raise DecisionError(msg)
    if len(decisions) != len(actions):
        names = ", ".join(str(a.get("name")) for a in actions)
        msg = f"{len(decisions)} decisions for {len(actions)} pending tool calls ({names}): send exactly one per call, in order"
        raise DecisionError(msg)
    allowed_by_tool = {str(c.get("action_name")): list(c.get("allowed_decisions") or []) for c in configs}
    checked = []
    for index, (decision, action) in enumerate(zip(decisions, actions, strict=True)):
        allowed = allowed_by_tool.get(str(action.get("name")), [])
        kind = _check_decision(decision, action, allowed, f"decision {index}")
        checked.append(Decision(interrupt_id, str(action.get("name")), dict(action.get("args") or {}), kind))
    return checked


def check_resume(resume: object, pending: Mapping[str, object]) -> list[Decision]:
    """Check a resume against the thread's pending interrupts (`{interrupt_id: value}`).

    Raises:
        DecisionError: What is wrong, with the HTTP status to refuse it with.

    """
    hitl: dict[str, Mapping[str, Any]] = {k: v for k, v in pending.items() if isinstance(v, Mapping) and _is_hitl_request(v)}
    if not pending:
        msg = "nothing on this thread is waiting for a decision"
        raise DecisionError(msg, status=409)
    if is_resume_map(resume):
        assert isinstance(resume, dict)
        unknown = sorted(set(resume) - set(pending))
        if unknown:
            msg = f"no pending approval has id {unknown[0]}; pending: {sorted(pending)}"
            raise DecisionError(msg, status=409)
        return [
            d
            for interrupt_id, answer in resume.items()
            if interrupt_id in hitl
            for d in check_answer(answer, hitl[interrupt_id], interrupt_id)
        ]
    if len(pending) > 1:
        msg = (
            f"{len(pending)} approvals are pending: answer them by id, {{interrupt_id: {{'decisions': [...]}}}}; pending: {sorted(pending)}"
        )
        raise DecisionError(msg)
    [interrupt_id] = pending
    return check_answer(resume, hitl[interrupt_id], interrupt_id) if interrupt_id in hitl else []
