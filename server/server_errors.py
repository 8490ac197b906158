"""Count the server's failures: every 5xx response, and every exception that escapes the app, as `sandbox_server_errors`.

A 5xx is a bug or an outage (bad input gets a 4xx), so an operator alerts on its
rate. `ServerErrors` is the outermost middleware of our `http.app`, so it sees the
responses of the server's own routes too (both servers wrap our middleware
around their whole API); the status code is the only label.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.metrics import events as metrics


class ServerErrors:
    """ASGI middleware: count each 5xx response (or escaping exception) by status; change nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, watching the status it is answered with."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        answered: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(int(message["status"]))
                if answered[0] >= 500:
                    metrics.server_error(answered[0])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not answered:  # nothing was sent: the server answers it with a 500
                metrics.server_error(500)
            raise
