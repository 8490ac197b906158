"""The server's own documentation and metrics routes, closed to strangers when auth is on.

`/docs`, `/openapi.json` and `/metrics` belong to the server (langgraph_api or
Aegra), outside LangGraph's auth and out of reach of `http.app`'s routes, so they
would stay public with auth on. `ServerRouteGate` is ASGI middleware of our
`http.app`, which both servers wrap around their whole API:

- `/docs`, `/openapi.json` (and `/redoc`): any valid token (the schema names every
  route and parameter, which is a map for an attacker, not a secret from users);
- `/metrics`: an admin's token (`AUTH_ADMIN_USERS`), or `METRICS_TOKEN` for a
  scraper that is no user (it reads request counts and latencies of every user);
- everyone else: 401 with the reason, or 403 for a user who is not an admin.

Tokens are read by `server.credentials.authenticate_headers`, the same function the
API's authenticate handler uses. With auth off the routes are served unchanged.
"""

from __future__ import annotations

import hmac

from langgraph_sdk import Auth
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server.credentials import SETTINGS, authenticate_headers, is_admin
from server.tokens import TokenError, request_token

DOCS_PATHS = frozenset({"/docs", "/openapi.json", "/redoc"})
"""The server's API documentation (and its assets under `/docs/`): any valid token."""
METRICS_PATH = "/metrics"
"""The server's Prometheus metrics: an admin or `METRICS_TOKEN`."""


def gated_route(path: str) -> str | None:
    """`"docs"` or `"metrics"` for a path this gate guards (with or without a trailing slash), else None."""
    trimmed = path.rstrip("/") or "/"
    if trimmed in DOCS_PATHS or trimmed.startswith("/docs/"):
        return "docs"
    if trimmed == METRICS_PATH or trimmed.startswith(METRICS_PATH + "/"):
        return "metrics"
    return None


def is_scrape_token(headers: dict[bytes, bytes]) -> bool:
    """Whether the request carries `METRICS_TOKEN` (compared in constant time)."""
    if SETTINGS.metrics_token is None:
        return False
    try:
        token = request_token(headers)
    except TokenError:
        return False
    return hmac.compare_digest(token.encode(), SETTINGS.metrics_token.encode())


async def refusal(route: str, headers: dict[bytes, bytes]) -> JSONResponse | None:
    """The response refusing this request to `route`, or None when the caller may have it."""
    if route == "metrics" and is_scrape_token(headers):
        return None
    try:
        user_id = await authenticate_headers(headers)
    except Auth.exceptions.HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers or {}))
    if route == "metrics" and not is_admin(user_id):
        detail = "/metrics is for admins (AUTH_ADMIN_USERS) and for METRICS_TOKEN, not for other users"
        return JSONResponse({"detail": detail}, status_code=403)
    return None


class ServerRouteGate:
    """ASGI middleware: with auth on, `/docs`, `/openapi.json` and `/metrics` answer only to the callers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a guarded route to a caller without the right credential; pass everything else through."""
        route = gated_route(scope.get("path", "")) if scope.get("type") == "http" and SETTINGS.enabled else None
        if route is not None:
            response = await refusal(route, dict(scope.get("headers") or []))
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
