"""Approval checks the server makes before anything is stored: answers, and where a policy lives.

Malformed answers are refused before a run exists, so a bad answer can never stick.

`langgraph dev` keeps a failed run's resume with the thread and replays it on
every later resume: a single malformed answer would leave the approval
unanswerable. The `threads.create_run` auth handler runs before the run is
stored, sees its `command`, and can refuse it with a 4xx; `server/auth.py`
calls `refuse_bad_resume` from there. That covers `POST /threads/{id}/runs`,
`/runs/stream`, `/runs/wait` and the v2 `POST /threads/{id}/commands`
(`input.respond`), which all create runs the same way.

The same handler keeps the approval policy where it belongs: on the assistant.
A run may not carry `approval_tools` / `auto_approved_commands` of its own,
because HITL re-evaluates the policy when a run resumes, and a resume under
another policy would skip the reviewer's answer or misalign the decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from langgraph_sdk import Auth, get_client

from agent.approval_policy import ApprovalPolicy
from agent.decisions import Decision, DecisionError, check_resume

POLICY_KEYS = ("approval_tools", "auto_approved_commands")
"""Context keys that only an assistant may set."""


async def read_thread(thread_id: str) -> Mapping[str, Any]:
    """The thread as the server stores it (`{}` when there is none), read in-process (no blocking I/O).

    The in-process SDK client talks to this same server over ASGI, under
    `/noauth` (authentication already ran for this request). The request runs in
    the caller's task, so the server's read filters still see the caller's auth
    context: another user's thread reads as not found.
    """
    client = get_client(url=None)
    try:
        return await client.threads.get(thread_id)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return {}
        raise
    finally:
        await client.aclose()


def pending_interrupts(thread: Mapping[str, Any]) -> dict[str, Any]:
    """`{interrupt_id: value}` of what the thread waits on (subagents' interrupts included)."""
    found: dict[str, Any] = {}
    for interrupts in (thread.get("interrupts") or {}).values():
        for interrupt in interrupts or []:
            if isinstance(interrupt, Mapping) and interrupt.get("id"):
                found[str(interrupt["id"])] = interrupt.get("value")
    return found


def _refuse(status: int, message: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=status, detail=message)


def refuse_bad_policy(context: object) -> None:
    """An assistant's context must hold a valid approval policy (else 422 at create/update time)."""
    try:
        ApprovalPolicy.from_context(context or {})
    except (TypeError, ValueError) as exc:
        raise _refuse(422, f"invalid approval policy: {exc}") from None


def refuse_run_level_policy(kwargs: Mapping[str, Any]) -> None:
    """Approval policy keys are set on an assistant, never per run."""
    context = kwargs.get("context") or {}
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    for source in (context, configurable):
        if isinstance(source, Mapping) and (keys := sorted(k for k in POLICY_KEYS if k in source)):
            msg = f"{', '.join(keys)} can only be set on an assistant (its context), not on a run"
            raise _refuse(422, msg)


ThreadFilter = Callable[[Mapping[str, Any]], bool]
"""Whether the caller may see a thread (ownership); a thread they may not see is not checked here."""


def _everyone(_thread: Mapping[str, Any]) -> bool:
    return True


async def refuse_bad_resume(value: Auth.types.RunsCreate, may_see: ThreadFilter = _everyone) -> list[Decision]:
    """Check a run about to be created; raise a 4xx for a malformed resume or a run-level policy.

    A thread that is missing, or that `may_see` says is not the caller's, is
    neither checked nor revealed here: the server's ownership filter answers 404
    as for any other request.

    Returns the validated decisions (empty when the run resumes nothing).
    """
    kwargs: Mapping[str, Any] = value.get("kwargs") or {}
    refuse_run_level_policy(kwargs)
    command = kwargs.get("command")
    if not isinstance(command, Mapping) or command.get("resume") is None:
        return []
    thread_id = value.get("thread_id")
    if thread_id is None:
        raise _refuse(400, "a resume needs a thread")
    thread = await read_thread(str(thread_id))
    if not thread or not may_see(thread):
        return []  # not found, or not the caller's: the server answers 404 as for any other request
    paused_by = (thread.get("metadata") or {}).get("assistant_id")
    if paused_by and str(paused_by) != str(value.get("assistant_id")):
        # HITL re-evaluates the policy on resume: another assistant's policy could skip the answer.
        msg = f"resume refused, nothing was run: resume with the assistant that paused this thread ({paused_by})"
        raise _refuse(409, msg)
    try:
        return check_resume(command["resume"], pending_interrupts(thread))
    except DecisionError as exc:
        raise _refuse(exc.status, f"resume refused, nothing was run: {exc}") from None
