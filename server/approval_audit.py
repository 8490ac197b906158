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
from datetime import UTC, datetime
from typing import Any

from sandbox.metrics import events as metrics
from sandbox.runs.audit import AuditLog
from server.approval_checks import run_request
from server.engine import StoredThread, ThreadReader, read_thread

logger = logging.getLogger(__name__)


async def thread_for_audit(thread_id: str, read: ThreadReader | None = None) -> StoredThread | None:
    """The thread as the server stores it (read in-process, past auth, or by `read`), or None when it cannot be read."""
    try:
        return await (read or read_thread)(thread_id)
    except Exception:  # a missing thread is refused by the server itself; nothing to log
        logger.exception("Could not read thread %s to audit its decisions", thread_id)
        return None


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


async def record_resume_decisions(audit: AuditLog, *, user_id: str, value: Mapping[str, Any], read: ThreadReader | None = None) -> None:
    """Log the decisions of a run about to be created, when it resumes the caller's own paused thread (read by `read`)."""
    request, only_if_paused = run_request(value)
    if request.resume is None or request.thread_id is None:
        return
    thread = await thread_for_audit(request.thread_id, read)
    if thread is None or thread.owner != user_id or (only_if_paused and not thread.pending):
        return
    records = decision_records(request.resume, thread.pending)
    if not records:
        logger.warning("Resume of thread %s by %s names no pending tool call; nothing to audit", request.thread_id, user_id)
    waited = waited_seconds(thread)
    for record in records:
        if waited is not None:
            metrics.approval_decided(record["decision"], waited)
        await asyncio.to_thread(audit.decision, user_id=user_id, thread_id=request.thread_id, **record)


def waited_seconds(thread: StoredThread) -> float | None:
    """How long a paused thread has waited: since it last changed, which is when its run paused (None: unknown)."""
    if thread.updated_at is None:
        return None
    return (datetime.now(UTC) - thread.updated_at).total_seconds()
