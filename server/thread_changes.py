"""`GET /thread-changes/{thread_id}?from=<checkpoint>&to=<checkpoint>`: the files changed between two checkpoints.

The web client shows under each finished turn "N files changed" and their diffs.
Each checkpoint's state carries the workspace snapshot it matched
(`agent.workspace_snapshots`); this route reads both snapshot ids through the
server's own API as the caller (`server.thread_rewinds.snapshot_at`, so the same
401/404/422 as every thread route) and compares them in the thread's store
(`sandbox.snapshots.changes`). Without `from`, the comparison starts at the
workspace before the thread's first change. A checkpoint whose snapshot the store
lost answers 409; the answer is bounded and says when it was cut.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.disks.workspace_owner import recorded_owner
from sandbox.snapshots.store import SnapshotMissingError
from server.thread_access import ThreadAccessError, resolve_caller_thread
from server.thread_copy import process_snapshots
from server.thread_rewinds import CHECKPOINT_ID, snapshot_at

_PARAMS = frozenset({"from", "to"})


def _checkpoints(request: Request) -> tuple[str | None, str]:
    """The `from` (optional) and `to` checkpoint ids, each given once and well-formed (422 otherwise)."""
    query = request.query_params
    if set(query.keys()) - _PARAMS or any(len(query.getlist(name)) > 1 for name in _PARAMS):
        raise ThreadAccessError(422, "the parameters are `to` and an optional `from`, each once")
    start, end = query.get("from"), query.get("to")
    for value in (start, end):
        if value is not None and not CHECKPOINT_ID.match(value):
            raise ThreadAccessError(422, "`from` and `to` must be ids of the thread's checkpoints")
    if end is None:
        raise ThreadAccessError(422, "`to` is required: the checkpoint whose changes are asked for")
    return start, end


async def thread_changes(request: Request) -> Response:
    """The files changed from checkpoint `from` (or the thread's start) to checkpoint `to`, with diffs."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        start, end = _checkpoints(request)
        before = await snapshot_at(request, caller.thread_id, start) if start is not None else None
        after = await snapshot_at(request, caller.thread_id, end)
        snapshots = process_snapshots()
        owner = await asyncio.to_thread(recorded_owner, snapshots.settings, caller.thread_id) or caller.user_id
        try:
            answer = await asyncio.to_thread(snapshots.changes, owner, caller.thread_id, before, after)
        except SnapshotMissingError as exc:
            raise ThreadAccessError(409, f"the files of this checkpoint are no longer stored: {exc}") from exc
    except ThreadAccessError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return JSONResponse({"from": start, "to": end, **answer})


routes = [Route("/thread-changes/{thread_id}", thread_changes, methods=["GET"])]
