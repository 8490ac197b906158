"""Delete and rename in a thread's `/workspace`, for the thread's owner, from the web client's panel.

The owner acts directly, so nothing pauses for approval; but every change goes
through the rules the agent's own file tools obey: `HostFiles.delete` is the
agent's `delete` tool, and `sandbox.files.file_rename` walks and checks paths the same
way (absolute paths on a root, no `..`, symlinks only inside the roots, `/shared`
read-only, a root never removed or replaced, the sandbox user's permissions). A
refusal carries the very text the agent would get for the same path.

Each attempt that reaches the file layer is one line of the audit log
(`server.file_audit`, kind `file`), so a change the owner made by hand is
accounted for like one the agent made after an approval.

- `DELETE /files/{thread_id}/content?path=/workspace/x`         -> `{"path"}`
- `POST   /files/{thread_id}/rename?path=/workspace/a&to=/workspace/b` -> `{"path", "to"}` (409 if `to` exists)

Callers who may not read the thread get what the other file routes answer (404).
A path the administrator's permission rules deny is refused with 403 naming the
rule (`server.file_policy`), before anything is touched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import DockerSandbox
from sandbox.files.file_rename import rename_path
from sandbox.files.path_errors import error_code, message
from server.file_audit import audit_file_change
from server.file_policy import refuse_denied
from server.file_routes import WORKSPACE, FileRouteError, _deployment, _error_response, _status_for, _workspace_path
from server.thread_access import CallerThread, resolve_caller_thread

_REASON_STATUS: tuple[tuple[str, int], ...] = (
    (": not found", 404),
    (": permission denied", 403),
    ("which is read-only", 403),
)
"""Status of a `HostFiles` refusal text, by how `sandbox.files.path_errors` ends it; anything else is a 400."""


def _status_of_text(error: str) -> int:
    return next((status for ending, status in _REASON_STATUS if error.endswith(ending)), 400)


def _status_of_exception(exc: BaseException) -> int:
    if isinstance(exc, FileExistsError):
        return 409
    return _status_for(error_code(exc))


def _below_workspace(raw: str | None, what: str) -> str:
    """A path strictly below `/workspace`: the folder itself is never deleted, renamed or replaced."""
    if not raw:
        raise FileRouteError(400, f"name the {what} (a path under {WORKSPACE})")
    path = _workspace_path(raw)
    if path == WORKSPACE:
        raise FileRouteError(400, f"{WORKSPACE} itself cannot be deleted, renamed or replaced; name something inside it")
    return path


def _box(caller: CallerThread) -> DockerSandbox:
    return DockerSandbox(caller.thread_id, _deployment(), user_id=caller.user_id)


async def delete_file(request: Request) -> Response:
    """Delete a file, a symlink (the link itself) or a folder with everything in it."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        path = _below_workspace(request.query_params.get("path"), "file or folder to delete")
        box = _box(caller)
        await refuse_denied(box, "delete", path=path)
        result = await asyncio.to_thread(box.files().delete, path)
        await audit_file_change(caller, {"operation": "delete", "path": path, **({"error": result.error} if result.error else {})})
        if result.error:
            raise FileRouteError(_status_of_text(result.error), result.error)
    except FileRouteError as exc:
        return _error_response(exc)
    return JSONResponse({"path": path})


async def rename_file(request: Request) -> Response:
    """Rename or move an entry within the workspace; never over an existing one (409)."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        path = _below_workspace(request.query_params.get("path"), "file or folder to rename")
        to = _below_workspace(request.query_params.get("to"), "new name (`to`)")
        record: dict[str, Any] = {"operation": "rename", "path": path, "to": to}
        box = _box(caller)
        await refuse_denied(box, "rename", path=path, to=to)
        try:
            await asyncio.to_thread(rename_path, box.files(), path, to)
        except Exception as exc:  # a refusal or failure of the file layer: its own text, never a 500
            error = message("Error renaming", path, exc)
            await audit_file_change(caller, {**record, "error": error})
            raise FileRouteError(_status_of_exception(exc), error) from exc
        await audit_file_change(caller, record)
    except FileRouteError as exc:
        return _error_response(exc)
    return JSONResponse({"path": path, "to": to})


routes = [
    Route("/files/{thread_id}/content", delete_file, methods=["DELETE"]),
    Route("/files/{thread_id}/rename", rename_file, methods=["POST"]),
]
