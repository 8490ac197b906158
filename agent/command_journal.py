"""A journal of the commands the agent started, so that a run re-queued after its server process died never runs one twice.

With several server processes (Aegra with Redis), a run whose process dies is
handed to another process once its lease expires, and that process runs the
graph again from the thread's last checkpoint. The checkpoint after the approval
step holds the approved `execute` or `start_process` call, but not its result:
the command may well have run (or be running still, in its sandbox) when its
process died. Running the same call again would run an approved command a second
time, without anyone approving it twice.

So, innermost around each such call, `CommandJournal` writes to the LangGraph
store (shared by every process: PostgreSQL under Aegra) an entry keyed by the
call's id: "started" before the command runs, "finished" (with its result when
that is small) after. When the same call comes again with the same approval
(the approval step's run id, `agent.approval_gate.APPROVAL_RUN_KEY`, which a
re-queued run keeps), it does not run: the model gets the recorded result, or a
result saying the command was interrupted when its server process stopped and
was not started again. A new approval of the same call (a run from an older
checkpoint, answered again) is a new run id, and runs the command.

The `task` subagent's gate holds a journal too: a run re-queued while the subagent's
approved command ran resumes the subagent from its own checkpoint, where the call
keeps its id. Without a store (unit tests of other parts, benchmarks) or outside a
thread, calls pass through unrecorded.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.store.base import BaseStore
from langgraph.types import Command

from agent.approval_gate import APPROVAL_RUN_KEY

logger = logging.getLogger(__name__)

JOURNALED_TOOLS = frozenset({"execute", "start_process"})
"""The tools whose calls run a command in the sandbox: a second run of one is a second command."""

NAMESPACE_ROOT = "_command_journal"
"""First label of every journal namespace. A user id never starts with "_" (`config.identity.USER_ID`),
and the store API puts every client's namespace under the caller's id (`server/auth.py`), so no
client can read, forge or remove an entry."""

RESULT_LIMIT = 16_000
"""Longest result text kept with a finished entry; a longer one is recorded as finished without it."""

ToolResult = ToolMessage | Command[Any]


def journal_namespace(thread_id: str) -> tuple[str, str]:
    """The store namespace of one thread's journal (a store label holds no ".", a thread id may: it is escaped)."""
    return (NAMESPACE_ROOT, thread_id.replace("%", "%25").replace(".", "%2E"))


async def forget_thread(store: BaseStore, thread_id: str) -> int:
    """Remove a deleted thread's journal (the thread's clean-up calls this); how many entries there were."""
    namespace, removed = journal_namespace(thread_id), 0
    while items := await store.asearch(namespace, limit=100):
        for item in items:
            await store.adelete(item.namespace, item.key)
        removed += len(items)
    return removed


def started_entry(request: ToolCallRequest, approval: str | None) -> dict[str, Any]:
    """What is recorded before a command starts: enough to tell the model later what it was and where it ran."""
    args = request.tool_call.get("args") or {}
    return {
        "state": "started",
        "tool": request.tool_call["name"],
        "command": str(args.get("command", "")),
        "approval": approval,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": time.time(),
    }


def finished_entry(started: Mapping[str, Any], result: ToolResult | None, error: BaseException | None = None) -> dict[str, Any]:
    """The started entry, marked finished with the result's text (when small enough to keep) and status."""
    text: str | None
    if error is not None:
        text, status = f"Error: the command failed: {error}", "error"
    elif isinstance(result, ToolMessage):
        text, status = result.text, result.status
    else:  # a Command: its effects are state updates, which a re-run gets from the checkpoint
        text, status = None, "success"
    kept = text if text is not None and len(text) <= RESULT_LIMIT else None
    return {**started, "state": "finished", "status": status, "result": kept, "finished_at": time.time()}


def replay(request: ToolCallRequest, entry: Mapping[str, Any]) -> ToolMessage:
    """The result the model gets instead of a second run of a call the journal already has."""
    call_id = str(request.tool_call.get("id") or "")
    name = request.tool_call["name"]
    what = f"`{entry.get('command')}`" if entry.get("command") else "this call"
    if entry.get("state") == "finished":
        result = entry.get("result")
        if result is None:
            content = (
                f"The command {what} finished before its server process stopped, and was not run again. "
                "Its output was too long to keep; check its effects in /workspace."
            )
        else:
            content = f"{result}\n\n[Recorded result: the command finished before its server process stopped, and was not run again.]"
        return ToolMessage(content=content, tool_call_id=call_id, name=name, status=entry.get("status") or "success")
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(entry.get("started_at") or 0)))
    content = (
        f"Interrupted: the command {what} was started at {started} by server process {entry.get('pid')} on "
        f"{entry.get('host')}, which stopped before the command finished. It was not started again, so its outcome "
        "is unknown: check its effects in /workspace before anything else. Running it again needs a new call "
        "(and a new approval)."
    )
    return ToolMessage(content=content, tool_call_id=call_id, name=name, status="error")


class _Call:
    """One journaled call: where its entry lives and which approval let it run."""

    def __init__(self, store: BaseStore, thread_id: str, call_id: str, approval: str | None) -> None:
        self.store, self.namespace, self.key, self.approval = store, journal_namespace(thread_id), call_id, approval

    def earlier(self, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The recorded entry, when it is of this very approval (a re-run); a new approval runs afresh."""
        if value is None or value.get("approval") != self.approval:
            return None
        return value


def journaled_call(request: ToolCallRequest) -> _Call | None:
    """The journal slot of a call that runs a command, or None when it is not journaled (passes through)."""
    call_id = request.tool_call.get("id")
    runtime = request.runtime
    if request.tool_call.get("name") not in JOURNALED_TOOLS or not call_id or runtime is None:
        return None
    store, config = getattr(runtime, "store", None), getattr(runtime, "config", None) or {}
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if store is None or not thread_id:
        return None
    state = request.state if isinstance(request.state, Mapping) else {}
    approval = state.get(APPROVAL_RUN_KEY)
    return _Call(store, str(thread_id), str(call_id), str(approval) if approval else None)


class CommandJournal(AgentMiddleware[Any, Any, Any]):
    """Records each command call before and after it runs; a re-run of a recorded call does not run it (module docstring)."""

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        """Run the call once: replay its journal entry if this approval already started it."""
        call = journaled_call(request)
        if call is None:
            return handler(request)
        item = call.store.get(call.namespace, call.key)
        earlier = call.earlier(item.value if item is not None else None)
        if earlier is not None:
            logger.warning("Not running tool call %s again: the journal has it as %s", call.key, earlier.get("state"))
            return replay(request, earlier)
        started = started_entry(request, call.approval)
        call.store.put(call.namespace, call.key, started, index=False)
        try:
            result = handler(request)
        except Exception as exc:
            call.store.put(call.namespace, call.key, finished_entry(started, None, exc), index=False)
            raise
        call.store.put(call.namespace, call.key, finished_entry(started, result), index=False)
        return result

    async def awrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
        """Async version of `wrap_tool_call`."""
        call = journaled_call(request)
        if call is None:
            return await handler(request)
        item = await call.store.aget(call.namespace, call.key)
        earlier = call.earlier(item.value if item is not None else None)
        if earlier is not None:
            logger.warning("Not running tool call %s again: the journal has it as %s", call.key, earlier.get("state"))
            return replay(request, earlier)
        started = started_entry(request, call.approval)
        await call.store.aput(call.namespace, call.key, started, index=False)
        try:
            result = await handler(request)
        except Exception as exc:
            await call.store.aput(call.namespace, call.key, finished_entry(started, None, exc), index=False)
            raise
        await call.store.aput(call.namespace, call.key, finished_entry(started, result), index=False)
        return result
