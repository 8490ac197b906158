"""Audit every approval decision: who decided what about which tool call, on which thread.

A decision reaches the server as a run that resumes the thread
(`command={"resume": {"decisions": [...]}}`); the `threads.create_run` auth
handler sees it before the run exists. It is logged there, once it is known to
be the caller's own thread (another user's resume is refused as "not found" and
is not a decision). Decisions pair up, in order, with the `action_requests` of
the interrupt the thread is paused on; the tool arguments are logged as a digest.
The handler checks the resume first (`server/approval_checks.py`), so only
well-formed decisions, which the run will apply, reach this log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import get_client

from sandbox.audit import AuditLog
from server.approval_checks import pending_interrupts

logger = logging.getLogger(__name__)


async def thread_for_audit(thread_id: str) -> dict[str, Any] | None:
    """The thread as the server stores it (read in-process, past auth), or None when it cannot be read."""
    client = get_client(url=None)
    try:
        return dict(await client.threads.get(thread_id))
    except Exception:  # a missing thread is refused by the server itself; nothing to log
        return None
    finally:
        await client.aclose()


def _decisions_by_interrupt(resume: Any, pending: Mapping[str, Any]) -> list[tuple[Any, list[Any]]]:
    """Pair each answered interrupt's value with its decisions (`{"decisions": [...]}` or keyed by interrupt id)."""
    if isinstance(resume, Mapping) and isinstance(resume.get("decisions"), list):
        # An unkeyed answer is for the one pending interrupt; with several, it names none of them.
        return [(next(iter(pending.values())), resume["decisions"])] if len(pending) == 1 else []
    if isinstance(resume, Mapping):
        pairs = []
        for interrupt_id, answer in resume.items():
            if str(interrupt_id) in pending and isinstance(answer, Mapping) and isinstance(answer.get("decisions"), list):
                pairs.append((pending[str(interrupt_id)], answer["decisions"]))
        return pairs
    return []


def decision_records(resume: Any, pending: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One `{tool, arguments, decision, edited_arguments}` per decision that names a pending tool call."""
    records = []
    for value, decisions in _decisions_by_interrupt(resume, pending):
        requests = value.get("action_requests") if isinstance(value, Mapping) else None
        if not isinstance(requests, list):
            continue
        for request, decision in zip(requests, decisions, strict=False):
            if not isinstance(request, Mapping) or not isinstance(decision, Mapping):
                continue
            edited = decision.get("edited_action") if decision.get("type") == "edit" else None
            records.append(
                {
                    "tool": str(request.get("name")),
                    "arguments": request.get("args"),
                    "decision": str(decision.get("type")),
                    "edited_arguments": edited.get("args") if isinstance(edited, Mapping) else None,
                }
            )
    return records


async def record_resume_decisions(audit: AuditLog, *, user_id: str, value: Mapping[str, Any], owner_key: str) -> None:
    """Log the decisions of a run about to be created, when it resumes the caller's own paused thread."""
    kwargs = value.get("kwargs") or {}
    command = kwargs.get("command") if isinstance(kwargs, Mapping) else None
    thread_id = value.get("thread_id")
    if not isinstance(command, Mapping) or command.get("resume") is None or thread_id is None:
        return
    thread = await thread_for_audit(str(thread_id))
    if thread is None or (thread.get("metadata") or {}).get(owner_key) != user_id:
        return
    records = decision_records(command["resume"], pending_interrupts(thread))
    if not records:
        logger.warning("Resume of thread %s by %s names no pending tool call; nothing to audit", thread_id, user_id)
    for record in records:
        await asyncio.to_thread(audit.decision, user_id=user_id, thread_id=str(thread_id), **record)
