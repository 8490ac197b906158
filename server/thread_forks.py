"""`POST /thread-forks/{thread_id}`: fork a thread into a new one, checkpoints, workspace and snapshots, on both servers.

`langgraph dev` has `POST /threads/{id}/copy` (every checkpoint, ids kept), and
`server.thread_copy` adds the files to it; Aegra has no copy route. This route is
the same fork on both, so the web client needs one call: the caller must be able
to read the source (`server.thread_access`: 401, 404, 422 as for the file routes),
the new thread is theirs, and its checkpoints keep their ids, so a run of the copy
from any checkpoint restores that checkpoint's files in the copy alone.

- `langgraph dev`: the server's own copy, asked in process with the caller's credentials;
- Aegra: a thread row for the caller (the source's metadata, the caller as owner), and
  every checkpoint and pending write copied through Aegra's own checkpointer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.runs.errors import WorkspaceDiskError
from server import engine
from server.thread_access import FORWARDED_HEADERS, ThreadAccessError, resolve_caller_thread
from server.thread_copy import process_snapshots


async def _copy_in_langgraph_dev(request: Request, thread_id: str) -> str:
    """The server's own `threads.copy`, in process, as the caller: its auth applies as for any API call."""
    headers = {name: value for name, value in request.headers.items() if name in FORWARDED_HEADERS}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app), base_url="http://in-process") as client:
        response = await client.post(f"/threads/{thread_id}/copy", headers=headers)
    if response.status_code != 200:
        raise ThreadAccessError(response.status_code if response.status_code < 500 else 409, "the server did not copy the thread")
    return str(response.json()["thread_id"])


async def _copy_in_aegra(source: str, user_id: str) -> str:
    """A new thread row for `user_id`, then every checkpoint (and pending write) of `source`, ids kept."""
    from aegra_api.core.database import db_manager  # noqa: PLC0415 - only inside Aegra
    from aegra_api.core.orm import Thread, _get_session_maker  # noqa: PLC0415
    from sqlalchemy import select  # noqa: PLC0415

    target = str(uuid.uuid4())
    async with _get_session_maker()() as session:
        row = await session.scalar(select(Thread).where(Thread.thread_id == source))
        if row is None:
            raise ThreadAccessError(404, "thread not found")
        metadata = {**dict(row.metadata_json or {}), engine.OWNER_KEY: user_id}
        session.add(Thread(thread_id=target, status="idle", metadata_json=metadata, user_id=user_id))
        await session.commit()
    saver = db_manager.get_checkpointer()
    copied = [item async for item in saver.alist({"configurable": {"thread_id": source}})]
    for item in reversed(copied):  # oldest first, so every parent exists before its children
        configurable = item.config["configurable"]
        namespace = configurable.get("checkpoint_ns", "")
        parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        config: dict[str, Any] = {"configurable": {"thread_id": target, "checkpoint_ns": namespace}}
        if parent:
            config["configurable"]["checkpoint_id"] = parent
        await saver.aput(config, item.checkpoint, item.metadata, item.checkpoint["channel_versions"])
        written = {"configurable": {"thread_id": target, "checkpoint_ns": namespace, "checkpoint_id": item.checkpoint["id"]}}
        by_task: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in item.pending_writes or []:
            by_task.setdefault(task_id, []).append((channel, value))
        for task_id, writes in by_task.items():
            await saver.aput_writes(written, writes, task_id)
    return target


async def fork_thread(request: Request) -> Response:
    """Fork the thread into a new one of the caller's; answers `{"thread_id": <new id>}` (201)."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        if engine.serving_engine().name == engine.AegraEngine.name:
            target = await _copy_in_aegra(caller.thread_id, caller.user_id)
        else:
            target = await _copy_in_langgraph_dev(request, caller.thread_id)
    except ThreadAccessError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    try:
        await asyncio.to_thread(process_snapshots().copy_thread, caller.thread_id, target, caller.user_id)
    except WorkspaceDiskError as exc:
        # Its runs stop on the missing snapshots with that error; the caller hears why now.
        detail = f"the thread was forked, but its workspace was not copied: {exc}"
        return JSONResponse({"detail": detail, "thread_id": target}, status_code=409)
    return JSONResponse({"thread_id": target}, status_code=201)


routes = [Route("/thread-forks/{thread_id}", fork_thread, methods=["POST"])]
