"""The web client's page and assets at `/app/` (built by `npm run build` into `ui/dist/`).

The page and its assets are public: a browser cannot attach a bearer token to a
page load, and they hold no data. Everything the client reads afterwards goes
through the LangGraph API or `server.file_routes`, which authenticate each call.
`/ui` is LangGraph's (generative UI) and `/` its health check, hence `/app/`.

Every response carries a strict Content-Security-Policy: only this origin's
scripts run, and the page talks only to this origin, so a model reply that
slipped markup past the client's sanitiser still could not load or send anything.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

DIST_DIR = Path(__file__).resolve().parents[1] / "ui" / "dist"
"""Built client, committed so that a fresh clone serves it without Node.js."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
"""Vuetify writes its theme into a `<style>` element, hence `'unsafe-inline'` for styles only."""


class ClientAssets(StaticFiles):
    """`ui/dist` with security headers; hashed assets are cached for good, the page never."""

    async def get_response(self, path: str, scope: Scope) -> Response:  # noqa: D102
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response


class _ClientApp:
    """Serves `ui/dist`, or a plain explanation when the client was never built."""

    def __init__(self) -> None:
        self._assets: ClientAssets | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._assets is None and (DIST_DIR / "index.html").is_file():
            self._assets = ClientAssets(directory=DIST_DIR, html=True)
        if self._assets is None:
            missing = PlainTextResponse("web client not built: run `npm ci && npm run build` in ui/", status_code=503)
            await missing(scope, receive, send)
            return
        await self._assets(scope, receive, send)


async def _to_app(request: Request) -> Response:
    return RedirectResponse(url=f"{request.url.path}/", status_code=307)


routes = [
    Route("/app", _to_app, methods=["GET", "HEAD"]),
    Mount("/app", app=_ClientApp(), name="app"),
]
