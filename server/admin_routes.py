"""The admin view's routes: live sandboxes, disk use per user, the recent audit, stopping a sandbox.

Under `/admin/`, a prefix of our own `http.app`, outside LangGraph's auth, so
each route authenticates the caller itself with the API's own authenticate
function (`server.credentials`): no valid token is 401, a user who is not in
`AUTH_ADMIN_USERS` is 403. In single-user mode (no auth configured) the one
user runs the server and is its admin.

- `GET  /admin/me`                        -> `{"user", "admin"}` for any signed-in caller (the web client shows its admin entry by it)
- `GET  /admin/sandboxes`                 -> `{"sandboxes": [...]}`: running containers, owner, thread, age, CPU, memory
- `POST /admin/sandboxes/{container_id}/stop` -> `{"stopped": {...}}`; 404 for no container of this server's
- `GET  /admin/disk`                      -> per-user reserved and used bytes against their budget
- `GET  /admin/audit?limit=N&user=&kind=` -> the newest N audit records (1..1000, default 100), newest first

Docker and the file system block, so every route does its work in a worker thread.
A stop is itself audited (kind `admin`, docs/audit.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import Auth
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.identity import SINGLE_USER_ID
from sandbox.containers.live_view import CONTAINER_ID, live_sandboxes, stop_live_sandbox
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.disk_budget import disk_total, disk_use_by_user, user_budget
from sandbox.disks.disk_quota import quota_problem
from sandbox.runs.audit import RECORD_FIELDS, audit_log
from sandbox.runs.audit_read import AuditQuery, AuditReader
from sandbox.runs.log_context import bound
from server.credentials import SETTINGS, authenticate_headers, is_admin

MAX_AUDIT_LIMIT = 1000
DEFAULT_AUDIT_LIMIT = 100
MAX_FILTER_CHARS = 256


class AdminRefusal(Exception):
    """A refused admin request: its status and the reason shown to the caller."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers

    def response(self) -> JSONResponse:
        """The refusal as the JSON error every route of ours answers with."""
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=self.headers)


async def caller(request: Request) -> str:
    """The signed-in caller (401 otherwise)."""
    try:
        return await authenticate_headers(dict(request.headers.items()))
    except Auth.exceptions.HTTPException as exc:
        raise AdminRefusal(exc.status_code, str(exc.detail), dict(exc.headers or {})) from None


def caller_is_admin(user_id: str) -> bool:
    """Admins are `AUTH_ADMIN_USERS`; with auth off, the single user."""
    return is_admin(user_id) if SETTINGS.enabled else user_id == SINGLE_USER_ID


async def admin(request: Request) -> str:
    """The caller, if an admin (401 without a valid token, 403 for anyone else)."""
    user_id = await caller(request)
    if not caller_is_admin(user_id):
        raise AdminRefusal(403, "the admin view is for admins (AUTH_ADMIN_USERS) only")
    return user_id


async def me(request: Request) -> Response:
    """Who the caller is and whether the admin view is theirs."""
    try:
        user_id = await caller(request)
    except AdminRefusal as exc:
        return exc.response()
    return JSONResponse({"user": user_id, "admin": caller_is_admin(user_id)})


def _settings_and_api() -> tuple[Any, Any]:
    state = sandbox_process()
    return state.settings, state.deployment.start()


async def sandboxes(request: Request) -> Response:
    """Running sandbox containers (every process's), oldest first."""
    try:
        await admin(request)
    except AdminRefusal as exc:
        return exc.response()

    def read() -> list[dict[str, Any]]:
        settings, api = _settings_and_api()
        return [box.as_json() for box in live_sandboxes(api, settings)]

    return JSONResponse({"sandboxes": await asyncio.to_thread(read)})


async def stop_sandbox(request: Request) -> Response:
    """Stop one running sandbox container (its command, if any, is killed); audited."""
    try:
        user_id = await admin(request)
        container_id = request.path_params["container_id"]
        if not CONTAINER_ID.match(container_id):
            raise AdminRefusal(400, "a container id is 12 to 64 lowercase hex digits")
    except AdminRefusal as exc:
        return exc.response()

    def stop() -> dict[str, str] | None:
        settings, api = _settings_and_api()
        stopped = stop_live_sandbox(api, settings, container_id)
        if stopped is not None:
            record = {"event": "admin", "user": user_id, "thread": stopped["thread_id"], "operation": "stop_sandbox"}
            audit_log(settings).append({**record, "container": stopped["container_id"], "owner": stopped["user_id"]})
        return stopped

    with bound(user_id=user_id):
        stopped = await asyncio.to_thread(stop)
    if stopped is None:
        return JSONResponse({"detail": f"no sandbox container {container_id} of this server"}, status_code=404)
    return JSONResponse({"stopped": stopped})


async def disk(request: Request) -> Response:
    """Each user's disk images: reserved (their quotas) and used (allocated) bytes, against their budget."""
    try:
        await admin(request)
    except AdminRefusal as exc:
        return exc.response()

    def read() -> dict[str, Any]:
        settings = sandbox_process().settings
        budget = user_budget(settings)
        users = [
            {"user": user, "reserved_bytes": use.reserved, "used_bytes": use.used, "budget_bytes": budget}
            for user, use in sorted(disk_use_by_user(settings).items(), key=lambda item: (-item[1].reserved, item[0]))
        ]
        problem = quota_problem(settings)
        return {"quotas_enforced": problem is None, "quota_problem": problem, "total_bytes": disk_total(settings), "users": users}

    return JSONResponse(await asyncio.to_thread(read))


def _audit_query(request: Request) -> tuple[int, AuditQuery]:
    raw = request.query_params.get("limit", str(DEFAULT_AUDIT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_LIMIT:
        raise AdminRefusal(400, f"limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}")
    user, kind = request.query_params.get("user"), request.query_params.get("kind")
    if user is not None and len(user) > MAX_FILTER_CHARS:
        raise AdminRefusal(400, f"user is longer than {MAX_FILTER_CHARS} characters")
    if kind is not None and kind not in RECORD_FIELDS:
        raise AdminRefusal(400, f"kind must be one of {', '.join(sorted(RECORD_FIELDS))}")
    return int(raw), AuditQuery(user=user or None, kinds=frozenset({kind}) if kind else None)


async def audit(request: Request) -> Response:
    """The newest audit records (all rotated files), newest first."""
    try:
        await admin(request)
        limit, query = _audit_query(request)
    except AdminRefusal as exc:
        return exc.response()
    path = sandbox_process().settings.audit_log
    records = await asyncio.to_thread(lambda: AuditReader(path).newest(limit, query))
    return JSONResponse({"records": records})


routes = [
    Route("/admin/me", me, methods=["GET"]),
    Route("/admin/sandboxes", sandboxes, methods=["GET"]),
    Route("/admin/sandboxes/{container_id}/stop", stop_sandbox, methods=["POST"]),
    Route("/admin/disk", disk, methods=["GET"]),
    Route("/admin/audit", audit, methods=["GET"]),
]
