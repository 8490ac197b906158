"""Background-process routes for the web client: list a thread's processes, read their output, stop one.

After `start_process` has returned there is no run stream to carry a process's
output, so the client reads it here. Every request is resolved by
`server.thread_access` (the API's own authentication and thread ownership, 404
for a thread the caller may not read), and a process is found only under the
thread it belongs to, so (thread id, process id) names it and nothing else does.

- `GET  /processes/{thread_id}` -> `{"processes": [...]}`
- `GET  /processes/{thread_id}/{process_id}/output?since=N` -> `{"process", "output", "start", "next"}`,
  or with `Accept: text/event-stream` a stream of `output` events (`{"start", "next", "output"}`),
  polled while the process runs, and one `end` event with the final record
- `POST /processes/{thread_id}/{process_id}/stop` -> the final record

Docker work runs on the deployment's command pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox.coordination.process_state import sandbox_process
from sandbox.processes.manager import ProcessError, ProcessManager
from sandbox.runs.errors import SandboxError, UserCapError
from server.thread_access import CallerThread, ThreadAccessError, resolve_caller_thread

MAX_PIECE_BYTES = 64 * 1024
"""Most output one answer (or one stream event) carries; the client asks on from `next`."""
POLL_SECONDS = 0.5
"""How often a stream looks for new output while the process runs."""
MAX_STREAM_SECONDS = 600.0
"""A stream ends after this long (the client reconnects from `next`), so no request is held forever."""


def _processes() -> ProcessManager:
    return sandbox_process().deployment.processes


async def _off_loop[T](caller: CallerThread, fn: Callable[..., T], *args: Any) -> T:
    return await sandbox_process().deployment.commands.run(caller.user_id, fn, *args)


def _since(request: Request) -> int:
    raw = request.query_params.get("since", "0")
    if not raw.isdigit() or len(raw) > 18:
        raise ThreadAccessError(400, "since must be a byte offset: a whole number from 0")
    return int(raw)


def _refusal(exc: Exception) -> JSONResponse:
    if isinstance(exc, ThreadAccessError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    status = exc.status if isinstance(exc, ProcessError) else 429 if isinstance(exc, UserCapError) else 503
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def list_processes(request: Request) -> Response:
    """The thread's processes, running and ended, as the sandbox shows them now."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        records = await _off_loop(caller, _processes().of_thread, caller.thread_id)
    except (ThreadAccessError, SandboxError) as exc:
        return _refusal(exc)
    return JSONResponse({"processes": [record.public() for record in records]})


async def _piece(caller: CallerThread, process_id: str, since: int) -> dict[str, Any]:
    record, data, start, after = await _off_loop(caller, _processes().output, caller.thread_id, process_id, since, MAX_PIECE_BYTES)
    return {"process": record.public(), "output": data.decode(errors="replace"), "start": start, "next": after}


async def _events(caller: CallerThread, process_id: str, since: int) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_STREAM_SECONDS
    while True:
        try:
            piece = await _piece(caller, process_id, since)
        except SandboxError as exc:
            yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"
            return
        since = piece["next"]
        if piece["output"]:
            yield f"event: output\ndata: {json.dumps({k: piece[k] for k in ('start', 'next', 'output')})}\n\n"
            continue  # more may wait already
        if piece["process"]["state"] != "running":
            yield f"event: end\ndata: {json.dumps(piece['process'])}\n\n"
            return
        if loop.time() >= deadline:
            return
        await asyncio.sleep(POLL_SECONDS)


async def process_output(request: Request) -> Response:
    """Output from byte `since`: one JSON piece, or (for `Accept: text/event-stream`) a live stream."""
    process_id = request.path_params["process_id"]
    try:
        since = _since(request)
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        piece = await _piece(caller, process_id, since)  # also refuses an unknown process before a stream starts
    except (ThreadAccessError, SandboxError) as exc:
        return _refusal(exc)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return JSONResponse(piece)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(caller, process_id, since), media_type="text/event-stream", headers=headers)


async def stop_process(request: Request) -> Response:
    """Stop the process and everything it started; its final record."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        record = await _off_loop(caller, _processes().stop, caller.thread_id, request.path_params["process_id"])
    except (ThreadAccessError, SandboxError) as exc:
        return _refusal(exc)
    return JSONResponse(record.public())


routes = [
    Route("/processes/{thread_id}", list_processes, methods=["GET"]),
    Route("/processes/{thread_id}/{process_id}/output", process_output, methods=["GET"]),
    Route("/processes/{thread_id}/{process_id}/stop", stop_process, methods=["POST"]),
]
