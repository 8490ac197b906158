"""Request bodies the server's own validator lets through but its handler cannot read: a 422, not a 500.

langgraph_api's schema for `POST /store/items/search` leaves `namespace_prefix`
optional, and its handler then reads `payload["namespace_prefix"]` and calls
`tuple()` on it: a body without it (`{}`) or with `null` ends in a 500. Aegra's
schema requires it (422). `StoreSearchGuard` (ASGI middleware of our `http.app`)
gives the same 422 with a reason on both servers, before the server reads the
body, and hands every other request through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STORE_SEARCH_PATH = "/store/items/search"
MAX_GUARDED_BODY = 1024 * 1024
"""A store search body larger than this is not read here (the server judges it alone)."""
MISSING_PREFIX = "namespace_prefix is required: a list of strings ([] searches all of your namespaces)"


def store_search_refusal(body: bytes) -> str | None:
    """Why this store search body cannot be served, or None (also for a body that is not JSON: the server answers that)."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None
    if isinstance(payload, dict) and not isinstance(payload.get("namespace_prefix"), list):
        return MISSING_PREFIX
    return None


class StoreSearchGuard:
    """ASGI middleware: `POST /store/items/search` without a list `namespace_prefix` gets 422 with the reason."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a store search's body, refuse it if it cannot be served, else replay it to the server."""
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != STORE_SEARCH_PATH:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body") or size > MAX_GUARDED_BODY:
                break
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        if complete and (reason := store_search_refusal(b"".join(m.get("body", b"") for m in messages))):
            await JSONResponse({"detail": reason}, status_code=422)(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
