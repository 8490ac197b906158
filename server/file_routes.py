"""Workspace file routes for the web client: list, download and upload a thread's `/workspace`.

Served under `/files/{thread_id}/...`, a prefix of our own (`/threads/...` is
LangGraph's). Every request is resolved by `server.thread_access` into (caller,
canonical thread id): the API's own authentication and thread ownership, and the
sandbox acts as that caller (a symlink to `/memories` reaches their memory, nobody
else's). Then it goes through the sandbox backend's
`ls`, `open_download` and `stage_upload`: the same symlink-safe, fd-walking file
code the agent's tools use, run off the event loop with `asyncio.to_thread`.
Downloads and uploads stream in pieces up to `SANDBOX_FILE_TRANSFER_MAX` (413
past it); an upload replaces its target only once complete (`sandbox.files.staged_upload`).

- `GET  /files/{thread_id}/list?path=/workspace/dir`  -> `{"path", "entries": [...]}`
- `GET  /files/{thread_id}/content?path=/workspace/f` -> the file's bytes (streamed)
- `PUT  /files/{thread_id}/content?path=/workspace/f` -> writes the request body (streamed)

A completed upload is one `file` record of the audit log (`server.file_audit`).

Only paths under `/workspace` are served: `/shared` belongs to every thread and
is not this panel's business.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox import DockerSandbox, SandboxDeployment
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.disk_budget import human_size
from sandbox.files.path_errors import error_code
from sandbox.files.staged_upload import StagedUpload
from server.file_audit import audit_file_change
from server.file_policy import refuse_denied
from server.thread_access import ThreadAccessError, resolve_caller_thread

WORKSPACE = "/workspace"
MAX_PATH_CHARS = 4096
"""Linux's PATH_MAX: a longer path cannot name anything, so it is refused before any file access."""
PIECE_BYTES = 256 * 1024
"""Downloads are read and sent this much at a time."""

_ERROR_STATUS: dict[str, int] = {
    "file_not_found": 404,
    "path_not_found": 404,
    "permission_denied": 403,
    "is_directory": 400,
    "not_a_directory": 400,
    "invalid_path": 400,
}


FileRouteError = ThreadAccessError
"""A refusal with its HTTP status; the message is shown to the user as is."""


def _deployment() -> SandboxDeployment:
    """The process's deployment (the graph's too): one set of worker pools; built lazily, never touches Docker."""
    return sandbox_process().deployment


def _workspace_path(raw: str | None) -> str:
    """Normalise a client path and refuse anything outside `/workspace`."""
    if raw is not None and len(raw) > MAX_PATH_CHARS:
        raise FileRouteError(400, f"the path is longer than {MAX_PATH_CHARS} characters")
    path = posixpath.normpath(raw or WORKSPACE)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path != WORKSPACE and not path.startswith(WORKSPACE + "/"):
        raise FileRouteError(400, f"only paths under {WORKSPACE} are served, not {raw!r}")
    return path


async def _sandbox_for(request: Request) -> DockerSandbox:
    """The caller's thread sandbox, acting as the caller (their `/memories`), after the API confirmed they may read it."""
    caller = await resolve_caller_thread(request, request.path_params["thread_id"])
    return DockerSandbox(caller.thread_id, _deployment(), user_id=caller.user_id)


def _status_for(error: str) -> int:
    """HTTP status for a file-layer refusal: its error code when it has one, else 400 (refused, shown as is)."""
    code = error.rsplit(":", 1)[-1].strip()
    return _ERROR_STATUS.get(code, 400)


def _error_response(exc: FileRouteError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def list_files(request: Request) -> Response:
    """Direct children of a workspace directory (symlinks listed, not followed)."""
    try:
        path = _workspace_path(request.query_params.get("path"))
        box = await _sandbox_for(request)
        result = await box.als(path)
        if result.error:
            raise FileRouteError(_status_for(result.error), result.error)
    except FileRouteError as exc:
        return _error_response(exc)
    entries = [
        {
            "path": entry["path"],
            "name": posixpath.basename(entry["path"]),
            "is_dir": bool(entry.get("is_dir")),
            "size": entry.get("size"),
            "modified_at": entry.get("modified_at"),
        }
        for entry in result.entries or []
    ]
    return JSONResponse({"path": path, "entries": entries})


def _too_large(what: str) -> FileRouteError:
    limit = _deployment().settings.file_transfer_max_bytes
    return FileRouteError(413, f"{what} is larger than {human_size(limit)} (SANDBOX_FILE_TRANSFER_MAX)")


def _refusal(path: str, exc: Exception) -> FileRouteError:
    """A file-layer exception as the route's refusal (its code decides the status)."""
    error = error_code(exc)
    return FileRouteError(_status_for(error), f"{path}: {error}")


async def _pieces(fd: int, size: int) -> AsyncIterator[bytes]:
    """The first `size` bytes of `fd`, a piece at a time, read off the event loop; closes `fd`."""
    try:
        left = size
        while left > 0 and (piece := await asyncio.to_thread(os.read, fd, min(PIECE_BYTES, left))):
            left -= len(piece)
            yield piece
    finally:
        os.close(fd)


async def download_file(request: Request) -> Response:
    """The file's bytes, streamed; the client saves or shows them (downloads go through `fetch` with the token)."""
    try:
        path = _workspace_path(request.query_params.get("path"))
        box = await _sandbox_for(request)
        files = box.files()
        try:
            fd, size = await asyncio.to_thread(files.open_download, path)
        except Exception as exc:
            raise _refusal(path, exc) from exc
        if size > _deployment().settings.file_transfer_max_bytes:
            os.close(fd)
            raise _too_large(path)
    except FileRouteError as exc:
        return _error_response(exc)
    name = posixpath.basename(path)
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    headers = {
        "Content-Disposition": disposition,
        "Content-Length": str(size),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(_pieces(fd, size), media_type="application/octet-stream", headers=headers)


async def _receive_into(request: Request, upload: StagedUpload) -> None:
    """Stream the request body into `upload`, refusing it (413) as soon as it passes the limit."""
    limit = _deployment().settings.file_transfer_max_bytes
    async for piece in request.stream():
        if upload.size + len(piece) > limit:
            raise _too_large("the upload")
        if piece:
            await asyncio.to_thread(upload.write, piece)


async def upload_file(request: Request) -> Response:
    """Stream the request body into a workspace file (parents created; an existing file is replaced when complete)."""
    try:
        path = _workspace_path(request.query_params.get("path"))
        if path == WORKSPACE:
            raise FileRouteError(400, "name a file under /workspace, not the folder itself")
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        box = DockerSandbox(caller.thread_id, _deployment(), user_id=caller.user_id)
        await refuse_denied(box, "upload", path=path)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _deployment().settings.file_transfer_max_bytes:
            raise _too_large("the upload")
        files = box.files()
        try:
            upload = await asyncio.to_thread(files.stage_upload, path)
        except Exception as exc:
            raise _refusal(path, exc) from exc
        try:
            await _receive_into(request, upload)
            await asyncio.to_thread(upload.commit)
        except BaseException as exc:
            await asyncio.shield(asyncio.to_thread(upload.abort))
            if isinstance(exc, OSError):
                raise _refusal(path, exc) from exc
            raise
        await audit_file_change(caller, {"operation": "upload", "path": path, "bytes": upload.size})
    except FileRouteError as exc:
        return _error_response(exc)
    return JSONResponse({"path": path, "size": upload.size}, status_code=201)


routes = [
    Route("/files/{thread_id}/list", list_files, methods=["GET"]),
    Route("/files/{thread_id}/content", download_file, methods=["GET"]),
    Route("/files/{thread_id}/content", upload_file, methods=["PUT"]),
]
