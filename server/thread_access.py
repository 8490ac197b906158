"""Who is asking, and for which thread: one resolver for every route of our `http.app`.

`resolve_caller_thread` turns a request into (user, canonical thread id), or a
refusal with its HTTP status: the thread id must be its one spelling
(`sandbox.disks.thread_ids`, 422 with the canonical spelling otherwise), the user is the
one the server's own authenticate function proves (401 otherwise; the single
user when auth is off), and the thread must be one that user may read.

May this HTTP caller use this thread? Ask the LangGraph API itself, in process.

Our own routes (`http.app`) sit outside LangGraph's auth. Rather than re-implement
who-owns-what, a file route forwards the caller's credentials to the server's own
`GET /threads/{thread_id}`, in process (no socket): LangGraph runs the same
authenticate function and the same thread-read filters as for every API call, so
a caller can use a thread's files exactly when it may read that thread. Both
servers merge their API into our app, so `request.app` is the whole API on
`langgraph dev` and on Aegra alike. In single-user mode (no auth configured) every existing thread is visible, and an
unknown thread id is still refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from langgraph_sdk import Auth
from starlette.requests import Request

from sandbox.disks.thread_ids import NonCanonicalThreadIdError, canonical_thread_id
from sandbox.runs.errors import InvalidThreadIdError
from sandbox.runs.log_context import bind_request
from server.auth import authenticate

FORWARDED_HEADERS = ("authorization", "x-api-key", "cookie")
"""Credentials a client may authenticate with; nothing else is forwarded."""


@dataclass(frozen=True)
class ThreadAccess:
    """The API's answer: `status` 200 means allowed; otherwise the status and detail to return."""

    status: int
    detail: str = ""

    @property
    def allowed(self) -> bool:
        """Whether the caller may read (and so use the files of) the thread."""
        return self.status == 200


async def check_thread_access(request: Request, thread_id: str) -> ThreadAccess:
    """Ask the served API whether the caller of `request` may read `thread_id`."""
    headers = {name: value for name, value in request.headers.items() if name in FORWARDED_HEADERS}
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
        response = await client.get(f"/threads/{thread_id}", headers=headers)
    if response.status_code == 200:
        return ThreadAccess(200)
    if response.status_code == 404:
        # A thread the caller does not own looks exactly like one that does not exist.
        return ThreadAccess(404, "thread not found")
    try:
        detail = str(response.json().get("detail") or response.text)
    except ValueError:
        detail = response.text
    return ThreadAccess(response.status_code, detail or "not allowed")


class ThreadAccessError(Exception):
    """A refusal with its HTTP status; the message is shown to the caller as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CallerThread:
    """The authenticated caller and the thread they may use, in its canonical spelling."""

    user_id: str
    """Whose sandbox this is: their `/memories`, their caps; never the single user when auth is on."""
    thread_id: str


async def caller_identity(request: Request) -> str:
    """The user the request's credentials prove, by the server's own authenticate function (401 otherwise)."""
    try:
        user = await authenticate(dict(request.headers.items()))
    except Auth.exceptions.HTTPException as exc:
        raise ThreadAccessError(exc.status_code, str(exc.detail)) from None
    return str(user["identity"])


async def resolve_caller_thread(request: Request, raw_thread_id: str) -> CallerThread:
    """(user, canonical thread id) of a request, after the API confirmed the user may read that thread."""
    try:
        thread_id = canonical_thread_id(raw_thread_id)
    except NonCanonicalThreadIdError as exc:
        raise ThreadAccessError(422, str(exc)) from exc
    except InvalidThreadIdError as exc:
        raise ThreadAccessError(400, str(exc)) from exc
    user_id = await caller_identity(request)
    access = await check_thread_access(request, thread_id)
    if not access.allowed:
        raise ThreadAccessError(access.status, access.detail)
    bind_request(user_id=user_id, thread_id=thread_id)  # the route's log lines name them too
    return CallerThread(user_id=user_id, thread_id=thread_id)
