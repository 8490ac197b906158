"""Workspace file routes for the web client: list, download and upload a thread's `/workspace`.

Served under `/files/{thread_id}/...`, a prefix of our own (`/threads/...` is
LangGraph's). Every request is resolved by `server.thread_access` into (caller,
canonical thread id): the API's own authentication and thread ownership, and the
sandbox acts as that caller (a symlink to `/memories` reaches their memory, nobody
else's). Then it goes through the sandbox backend's
`ls` / `download_files` / `upload_files`: the same symlink-safe, fd-walking file
code the agent's tools use, run off the event loop with `asyncio.to_thread`.

- `GET  /files/{thread_id}/list?path=/workspace/dir`  -> `{"path", "entries": [...]}`
- `GET  /files/{thread_id}/content?path=/workspace/f` -> the file's bytes
- `PUT  /files/{thread_id}/content?path=/workspace/f` -> writes the request body

Only paths under `/workspace` are served: `/shared` belongs to every thread and
is not this panel's business.
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from urllib.parse import quote

from deepagents.backends.protocol import FileOperationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from server.thread_access import ThreadAccessError, resolve_caller_thread

WORKSPACE = "/workspace"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""Largest upload accepted in one request; the body is read in chunks and refused past this."""

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


@lru_cache(maxsize=1)
def _deployment() -> SandboxDeployment:
    """One deployment for file access; built lazily (after the graph loaded `.env`), never touches Docker."""
    return SandboxDeployment(SandboxSettings.from_env())


def _workspace_path(raw: str | None) -> str:
    """Normalise a client path and refuse anything outside `/workspace`."""
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


async def download_file(request: Request) -> Response:
    """The file's bytes; the client saves or shows them (downloads go through `fetch` with the token)."""
    try:
        path = _workspace_path(request.query_params.get("path"))
        box = await _sandbox_for(request)
        [result] = await box.adownload_files([path])
        if result.error or result.content is None:
            error: FileOperationError | str = result.error or "file_not_found"
            raise FileRouteError(_status_for(error), f"{path}: {error}")
    except FileRouteError as exc:
        return _error_response(exc)
    name = posixpath.basename(path)
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response(result.content, media_type="application/octet-stream", headers=headers)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise FileRouteError(413, f"upload larger than {MAX_UPLOAD_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise FileRouteError(413, f"upload larger than {MAX_UPLOAD_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_file(request: Request) -> Response:
    """Write the request body to a workspace file (parents created; an existing file is replaced)."""
    try:
        path = _workspace_path(request.query_params.get("path"))
        if path == WORKSPACE:
            raise FileRouteError(400, "name a file under /workspace, not the folder itself")
        box = await _sandbox_for(request)
        data = await _read_body(request)
        [result] = await box.aupload_files([(path, data)])
        if result.error:
            raise FileRouteError(_status_for(result.error), f"{path}: {result.error}")
    except FileRouteError as exc:
        return _error_response(exc)
    return JSONResponse({"path": path, "size": len(data)}, status_code=201)


routes = [
    Route("/files/{thread_id}/list", list_files, methods=["GET"]),
    Route("/files/{thread_id}/content", download_file, methods=["GET"]),
    Route("/files/{thread_id}/content", upload_file, methods=["PUT"]),
]
