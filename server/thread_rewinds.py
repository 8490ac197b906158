"""`POST /thread-rewinds/{thread_id}`: make the workspace what it was at one of the thread's checkpoints, now.

A run from a checkpoint restores its files by itself (`agent.workspace_snapshots`),
but only once it starts. The web client's "rewind to here" shows an earlier
checkpoint before anything is sent, and its files panel must show that
checkpoint's files too: this route restores them at once. The checkpoint's state
is read through the server's own API with the caller's credentials, so the caller
must be able to read the thread (401, 404, 422 as for the file routes); the body
is `{"checkpoint_id": "<id>"}`. Answers `{"snapshot": <id or null>}`; 404 for a
checkpoint the thread does not have, 409 when its snapshot is missing (the
workspace is then left as it is).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.workspace_snapshots import STATE_KEY
from sandbox.disks.workspace_owner import recorded_owner
from sandbox.snapshots.manifest import is_snapshot_id
from sandbox.snapshots.store import SnapshotMissingError
from server.thread_access import FORWARDED_HEADERS, ThreadAccessError, resolve_caller_thread
from server.thread_copy import process_snapshots

MAX_BODY = 4096
CHECKPOINT_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


async def _checkpoint_id(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ThreadAccessError(413, "the body is too large")
    try:
        payload: Any = json.loads(body or b"null")
    except ValueError:
        raise ThreadAccessError(422, 'the body must be JSON: {"checkpoint_id": "..."}') from None
    checkpoint = payload.get("checkpoint_id") if isinstance(payload, dict) else None
    if not isinstance(checkpoint, str) or not CHECKPOINT_ID.match(checkpoint):
        raise ThreadAccessError(422, "checkpoint_id must be the id of one of the thread's checkpoints")
    return checkpoint


async def snapshot_at(request: Request, thread_id: str, checkpoint_id: str) -> str | None:
    """The snapshot id the checkpoint's state carries, read as the caller through the API."""
    headers = {name: value for name, value in request.headers.items() if name in FORWARDED_HEADERS}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app), base_url="http://in-process") as client:
        response = await client.get(f"/threads/{thread_id}/state/{checkpoint_id}", headers=headers)
    if response.status_code != 200:
        raise ThreadAccessError(404 if response.status_code >= 400 else response.status_code, "checkpoint not found")
    state: Any = response.json()
    values = state.get("values") if isinstance(state, dict) else None
    # `langgraph dev` answers an unknown checkpoint with an empty state that echoes the id, and no creation time.
    if not isinstance(state, dict) or not state.get("created_at") or (state.get("checkpoint") or {}).get("checkpoint_id") != checkpoint_id:
        raise ThreadAccessError(404, "checkpoint not found")
    snapshot = values.get(STATE_KEY) if isinstance(values, dict) else None
    return snapshot if isinstance(snapshot, str) and is_snapshot_id(snapshot) else None


async def rewind_thread(request: Request) -> Response:
    """Restore the thread's workspace to the snapshot of the checkpoint in the body."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        checkpoint_id = await _checkpoint_id(request)
        snapshot = await snapshot_at(request, caller.thread_id, checkpoint_id)
        snapshots = process_snapshots()
        owner = await asyncio.to_thread(recorded_owner, snapshots.settings, caller.thread_id) or caller.user_id
        try:
            await asyncio.to_thread(snapshots.restore, owner, caller.thread_id, snapshot)
        except SnapshotMissingError as exc:
            raise ThreadAccessError(409, f"the workspace cannot go back to this checkpoint: {exc}") from exc
    except ThreadAccessError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return JSONResponse({"snapshot": snapshot})


routes = [Route("/thread-rewinds/{thread_id}", rewind_thread, methods=["POST"])]
