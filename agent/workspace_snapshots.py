"""The workspace follows the conversation's checkpoints: snapshot after each change, restore on a fork.

After every tool call that can change `/workspace` (`execute`, `write_file`,
`edit_file`, `delete`, and `task`, whose subagent may run any of them), the
workspace is snapshotted (`sandbox.snapshots`) and the snapshot's id goes into
the graph state (`workspace_snapshot`), so the checkpoint written after the tools
step carries it. A file tool names the one path it changed, so only that path is
read again; after `execute` a stat walk decides what to read.

A run started from an earlier checkpoint (time travel, an edited message, a
copied thread) is not told so: neither server puts the `checkpoint_id` in the
first node's config. It shows as a state whose snapshot id differs from the
workspace's head, so that is what is compared, once per run, at its first model
or tool call (resuming an interrupt starts at the tools node), inside that call:
a hook of its own would be a node, so one more checkpoint and stream step on
every run, and the steps before the first model call do not read `/workspace`.
A state without an id (a checkpoint from
before the thread's first change) restores the thread's root snapshot. A run at
the head changes nothing. A snapshot the store does not have stops the run with
a clear error; the workspace is left as it is, never silently mismatched.

The subagent's copy only records (its state starts from the parent's, and the
parent has already restored before `task` ran).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NotRequired, override

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import ModelRequest, ModelResponse, OmitFromInput
from langchain.tools.tool_node import ToolCallRequest
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from sandbox.disks.workspace import ThreadRef
from sandbox.runs.run_context import current_run_id
from sandbox.snapshots.manifest import is_snapshot_id, latest_snapshot
from sandbox.snapshots.store import SnapshotMissingError
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots

logger = logging.getLogger(__name__)

STATE_KEY = "workspace_snapshot"
FILE_TOOLS = frozenset({"write_file", "edit_file", "delete"})
"""Tools that name the one path they change (`file_path`)."""
TREE_TOOLS = frozenset({"execute", "task"})
"""Tools whose changes are unknown until the workspace is walked."""
_REMEMBERED_RUNS = 4096


class SnapshotState(AgentState):
    """The graph state's snapshot id: set only by this middleware, never from a run's input."""

    workspace_snapshot: Annotated[NotRequired[str | None], OmitFromInput, latest_snapshot]


class WorkspaceRestoreError(RuntimeError):
    """A run starts from a checkpoint whose workspace cannot be restored; it stops before its first step."""


def _changed_path(request: ToolCallRequest) -> tuple[bool, str | None]:
    """(whether the call may change the workspace, the one path it names if a file tool)."""
    name = request.tool_call["name"]
    if name in TREE_TOOLS:
        return True, None
    if name in FILE_TOOLS:
        path = (request.tool_call.get("args") or {}).get("file_path")
        if isinstance(path, str) and path.startswith("/workspace"):
            return True, path
    return False, None


def _with_snapshot(result: ToolMessage | Command[Any], snapshot_id: str | None, note: str | None) -> ToolMessage | Command[Any]:
    if note is not None and isinstance(result, ToolMessage) and isinstance(result.content, str):
        result = result.model_copy(update={"content": f"{result.content}\n{note}"})
    if snapshot_id is None:
        return result
    if isinstance(result, ToolMessage):
        return Command(update={"messages": [result], STATE_KEY: snapshot_id})
    if isinstance(result, Command) and result.graph is None and isinstance(result.update, dict):
        update = dict(result.update)
        update[STATE_KEY] = latest_snapshot(update.get(STATE_KEY), snapshot_id)
        return dataclasses.replace(result, update=update)
    return result


class WorkspaceSnapshotMiddleware(AgentMiddleware[SnapshotState, Any, Any]):
    """Records a snapshot after each workspace change and restores the checkpoint's one when a run forks."""

    state_schema = SnapshotState

    def __init__(self, snapshots: WorkspaceSnapshots, thread: Callable[[], ThreadRef], *, restore: bool = True) -> None:
        super().__init__()
        self.snapshots = snapshots
        self.thread = thread
        self.restore = restore
        self._aligned: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def recorder(self) -> WorkspaceSnapshotMiddleware:
        """The subagent's copy: records its changes, never restores (the parent did, before `task`)."""
        return WorkspaceSnapshotMiddleware(self.snapshots, self.thread, restore=False)

    # -- restore: once per run, at its first step ----------------------------------

    def _align(self, wanted: object) -> None:
        if not self.restore:
            return
        run_id = current_run_id()
        with self._lock:
            if run_id is not None and run_id in self._aligned:
                return
            ref = self.thread()
            target = wanted if isinstance(wanted, str) and is_snapshot_id(wanted) else None
            if wanted is not None and target is None:
                msg = f"Cannot start from this checkpoint: {wanted!r} is not a workspace snapshot id."
                raise WorkspaceRestoreError(msg)
            try:
                self.snapshots.restore(ref.user_id, ref.thread_id, target)
            except SnapshotMissingError as exc:
                msg = f"Cannot start from this checkpoint: {exc}. The workspace was left as it is."
                raise WorkspaceRestoreError(msg) from exc
            if run_id is not None:
                self._aligned[run_id] = None
                while len(self._aligned) > _REMEMBERED_RUNS:
                    self._aligned.popitem(last=False)

    async def _aalign(self, wanted: object) -> None:
        """`_align` from the event loop: a thread hop only while this run is not aligned yet.

        Every model call and tool call of a run asks; only its first does the work, so
        the others answer from the set of aligned runs (read without the lock: a run id
        is added only after its restore finished, so a miss just means one more hop).
        """
        run_id = current_run_id()
        if not self.restore or (run_id is not None and run_id in self._aligned):
            return
        await asyncio.to_thread(self._align, wanted)

    @override
    def wrap_model_call(self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]) -> Any:
        self._align(request.state.get(STATE_KEY))
        return handler(request)

    @override
    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> Any:
        await self._aalign(request.state.get(STATE_KEY))
        return await handler(request)

    # -- record: after each change ----------------------------------------------------

    def _before_change(self, ref: ThreadRef) -> None:
        """The thread's first change: its root snapshot first (a failure shows in the snapshot after)."""
        try:
            self.snapshots.ensure_root(ref.user_id, ref.thread_id)
        except Exception as exc:
            logger.warning("Could not take the root snapshot of thread %s: %s", ref.thread_id, exc)

    def _record(self, ref: ThreadRef, path: str | None) -> tuple[str | None, str | None]:
        """(new head, None), or (None, a note for the tool result) when the snapshot could not be taken."""
        try:
            return self.snapshots.record(ref.user_id, ref.thread_id, path), None
        except Exception as exc:
            logger.warning("Could not snapshot the workspace of thread %s: %s", ref.thread_id, exc)
            return None, f"[workspace snapshot failed ({exc}): going back to this point will not restore these files]"

    @override
    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]) -> Any:
        self._align((request.state or {}).get(STATE_KEY))
        changes, path = _changed_path(request)
        if not changes:
            return handler(request)
        ref = self.thread()
        self._before_change(ref)
        result = handler(request)
        return _with_snapshot(result, *self._record(ref, path))

    @override
    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
    ) -> Any:
        await self._aalign((request.state or {}).get(STATE_KEY))
        changes, path = _changed_path(request)
        if not changes:
            return await handler(request)
        ref = self.thread()
        await asyncio.to_thread(self._before_change, ref)
        result = await handler(request)
        return _with_snapshot(result, *await asyncio.to_thread(self._record, ref, path))
