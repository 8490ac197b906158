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

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.metrics import events as metrics
from server.asgi_body import read_request, send_json_error

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
        read = await read_request(receive, MAX_GUARDED_BODY)
        if read.body is not None and (reason := store_search_refusal(read.body)):
            metrics.refused("store_search")
            await send_json_error(send, 422, reason)
            return
        await self.app(scope, read.replay(receive), send)
