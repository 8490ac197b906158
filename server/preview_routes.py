"""Preview routes: the owner gets a link to an app listening in the thread's sandbox; the link opens it, HTTP and WebSocket.

- `POST /preview/{thread_id}/{port}`: resolved like every route of ours
  (`server.thread_access`: the caller's token, the thread's one spelling, the API's
  own ownership check), answers `{"url", "path", "expires_at"}`: a link signed for
  (caller, thread, port) that works for `PREVIEW_LINK_TTL` seconds (`server.preview_links`).
- `/preview/t/<link>/<path>`: any method, and WebSocket. The link is the only
  credential (a browser navigation sends no bearer token); everything the app
  links relatively stays under the same prefix, so it carries the link along.
  Requests go to the thread's relay socket (`sandbox.previews.host_side`), never
  to a network address.

The app's pages are served on the web client's origin, so every answer carries
`Content-Security-Policy: sandbox allow-scripts allow-forms allow-popups`: the
page gets an opaque origin and its scripts cannot read the client's storage or
cookies, nor call the API with them. The browser's cookies and credentials are
never forwarded to the app, and the app's `Set-Cookie` is dropped (it would land
on the client's origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from functools import cache

import httpx
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Scope
from starlette.websockets import WebSocket

from config.previews import PreviewSettings
from sandbox.coordination.process_state import sandbox_process
from sandbox.previews.folders import previews_root
from sandbox.previews.host_side import NothingListensError, PreviewRelays, PreviewUnavailableError
from server.preview_links import PreviewGrant, PreviewLinkError, sign, stored_key, verify
from server.preview_sockets import bridge_websocket, upstream_request
from server.thread_access import ThreadAccessError, resolve_caller_thread

PREFIX = "/preview/t/"
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups"
"""An opaque origin for the app's pages: no `allow-same-origin`, so nothing of the web client's origin is theirs."""
MAX_BODY_BYTES = 16 * 1024**2
"""Largest request body passed to a previewed app (read whole, so a stale relay can be restarted and retried)."""
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
)
_NOT_FOR_THE_APP = frozenset({"host", "authorization", "cookie", "x-api-key", "content-length"}) | _HOP_BY_HOP
"""The browser's credentials for the web client's origin never reach the sandbox."""
_NOT_FOR_THE_BROWSER = frozenset({"set-cookie", "content-security-policy-report-only"}) | _HOP_BY_HOP


class _AnyPath(Convertor[str]):
    """Starlette's `path`, across newlines too: an app's path may hold `%0a`, and it must reach the app, not the API."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("preview_path", _AnyPath())


@cache
def _relays() -> PreviewRelays:
    """The relay starter of this process, on the process's deployment (the graph's too)."""
    return PreviewRelays(sandbox_process().deployment)


async def _key() -> bytes:
    settings = PreviewSettings.from_env()
    if settings.secret:
        return settings.secret.encode()
    return await asyncio.to_thread(stored_key, previews_root(_relays().deployment.settings))


def _isolated(response: Response) -> Response:
    """Every answer under the preview prefix, the app's or ours, gets an opaque origin and leaks no referrer."""
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = response.headers.get("Cache-Control", "no-store")
    return response


def _refusal(status: int, message: str) -> Response:
    return _isolated(PlainTextResponse(message + "\n", status_code=status))


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5 or not 1 <= int(raw) <= 65535:
        raise ThreadAccessError(422, f"the port must be a number from 1 to 65535, not {raw[:20]!r}")
    return int(raw)


async def create_link(request: Request) -> Response:
    """A link that opens the app on `port` in the caller's thread, for `PREVIEW_LINK_TTL` seconds."""
    try:
        caller = await resolve_caller_thread(request, request.path_params["thread_id"])
        port = _port(request.path_params["port"])
    except ThreadAccessError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    expires = int(time.time()) + PreviewSettings.from_env().link_ttl_seconds
    token = sign(await _key(), PreviewGrant(user_id=caller.user_id, thread_id=caller.thread_id, port=port, expires=expires))
    path = f"{PREFIX}{token}/"
    url = str(request.base_url).rstrip("/") + path
    return JSONResponse({"url": url, "path": path, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()}, status_code=201)


async def _grant(token: str) -> PreviewGrant:
    return verify(await _key(), token)


async def _relay_fd(grant: PreviewGrant, *, restart: bool = False) -> int:
    return await asyncio.to_thread(_relays().open_or_start, grant.user_id, grant.thread_id, grant.port, restart=restart)


def _app_headers(request: Request, port: int) -> list[tuple[str, str]]:
    headers = [(name, value) for name, value in request.headers.items() if name not in _NOT_FOR_THE_APP and not name.startswith("proxy-")]
    return [("host", f"localhost:{port}"), *headers]


def _target(scope: Scope, token: str) -> str:
    """The app's path and query, as the browser spelled them (escapes kept), after the link's prefix."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").removeprefix(f"{PREFIX}{token}") or "/"
    query = scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


def _browser_headers(upstream: httpx.Response, token: str) -> list[tuple[str, str]]:
    """The app's headers for the browser: no cookies for our origin, redirects kept under the link's prefix."""
    kept: list[tuple[str, str]] = []
    for name, value in upstream.headers.multi_items():
        lower = name.lower()
        if lower in _NOT_FOR_THE_BROWSER:
            continue
        relative = lower == "location" and value.startswith("/") and not value.startswith("//")
        kept.append((lower, f"{PREFIX}{token}{value}" if relative else value))
    if not any(name == "access-control-allow-origin" for name, _ in kept):
        # The page's own fetches and module scripts come from its opaque origin ("null"); the link is the credential.
        kept.append(("access-control-allow-origin", "*"))
    return kept


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for piece in request.stream():
        body.extend(piece)
        if len(body) > MAX_BODY_BYTES:
            raise PreviewLinkError(413, f"a preview request body may be at most {MAX_BODY_BYTES // 1024**2} MiB")
    return bytes(body)


async def proxy(request: Request) -> Response:
    """Pass one request to the app through the thread's relay, and its answer back, streamed."""
    token = request.path_params["token"]
    try:
        grant = await _grant(token)
        body = await _body(request)
    except PreviewLinkError as exc:
        return _refusal(exc.status, str(exc))
    target = _target(request.scope, token)
    headers = _app_headers(request, grant.port)
    try:
        upstream, close = await upstream_request(lambda restart: _relay_fd(grant, restart=restart), request.method, target, headers, body)
    except NothingListensError as exc:
        return _refusal(502, str(exc))
    except PreviewUnavailableError as exc:
        return _refusal(502, f"Preview unavailable: {exc}")
    except httpx.HTTPError:
        # The app stopped listening since its relay started (the relay hangs up at once), or dropped the connection.
        return _refusal(502, str(NothingListensError(grant.port)))
    response = StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, background=close)
    response.raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in _browser_headers(upstream, token)]
    return _isolated(response)


async def to_slash(request: Request) -> Response:
    """`/preview/t/<link>` -> `/preview/t/<link>/`, so the app's relative links resolve under the link."""
    try:
        await _grant(request.path_params["token"])
    except PreviewLinkError as exc:
        return _refusal(exc.status, str(exc))
    return _isolated(RedirectResponse(f"{PREFIX}{request.path_params['token']}/", status_code=307))


async def proxy_websocket(websocket: WebSocket) -> None:
    """Bridge a WebSocket to the app through the relay; a bad link is refused before the handshake completes (403)."""
    try:
        grant = await _grant(websocket.path_params["token"])
    except PreviewLinkError:
        await websocket.close(code=1008)
        return
    target = _target(websocket.scope, websocket.path_params["token"])
    try:
        await bridge_websocket(websocket, lambda restart: _relay_fd(grant, restart=restart), grant.port, target)
    except PreviewUnavailableError:
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=1011)


routes: list[BaseRoute] = [
    Route("/preview/t/{token}", to_slash, methods=["GET", "HEAD"]),
    Route("/preview/t/{token}/{path:preview_path}", proxy, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    WebSocketRoute("/preview/t/{token}/{path:preview_path}", proxy_websocket),
    Route("/preview/{thread_id}/{port}", create_link, methods=["POST"]),
]
