"""May this HTTP caller use this thread? Ask the LangGraph API itself, in process.

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
from starlette.requests import Request

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
