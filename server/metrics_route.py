"""`/metrics`: the server's own metrics with the platform's `sandbox_` ones appended, on the API's port.

`/metrics` is the server's route (`langgraph dev` serves its `lg_api_*` metrics
there; Aegra only with `ENABLE_PROMETHEUS_METRICS`), and `http.app` cannot replace
it. `MetricsRoute` is ASGI middleware of our `http.app`, which both servers wrap
around their whole API: it lets the server answer first and appends ours to a 200
in Prometheus' text format; where the server has no such route (404) it answers
with ours alone. `?format=json` (langgraph_api's JSON snapshot) passes through.

It sits inside `server.route_gate.ServerRouteGate`, so with auth on only an admin
or `METRICS_TOKEN` gets here. A scrape reads Docker and the disk images' metadata
on a worker thread and asks the engine how many threads wait for a decision.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.coordination.process_state import sandbox_process
from sandbox.metrics.scrape import event_families, exposition, pending_family, scrape_families
from server import engine
from server.route_gate import gated_route

logger = logging.getLogger(__name__)


async def sandbox_families() -> list[Metric]:
    """Every `sandbox_` family for one scrape: counted events, containers and disks now, pending approvals."""
    deployment = sandbox_process().deployment
    families = [*event_families(), *await asyncio.to_thread(scrape_families, deployment.start, deployment.settings)]
    try:
        families.append(pending_family(await engine.count_interrupted()))
    except Exception:  # the scrape still shows everything else
        logger.warning("Metrics: could not count the threads waiting for a decision", exc_info=True)
    return families


class _Captured:
    """The downstream app's response, held until ours is appended."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start is not None else 500


async def _send_text(send: Send, body: bytes) -> None:
    headers = [(b"content-type", CONTENT_TYPE_PLAIN_0_0_4.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsRoute:
    """ASGI middleware: `GET /metrics` answers the server's metrics (if any) followed by the `sandbox_` ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve `/metrics` merged; hand every other request (and `?format=json`) to the server untouched."""
        if (
            scope.get("type") != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or gated_route(scope.get("path", "")) != "metrics"
            or b"format=json" in scope.get("query_string", b"")
        ):
            await self.app(scope, receive, send)
            return
        server = _Captured()
        await self.app(scope, receive, server.send)
        if server.status not in (200, 404) or server.start is None:
            await send(server.start or {"type": "http.response.start", "status": server.status, "headers": []})
            await send({"type": "http.response.body", "body": bytes(server.body)})
            return
        ours = exposition(await sandbox_families())
        theirs = bytes(server.body) if server.status == 200 else b""
        if theirs and not theirs.endswith(b"\n"):
            theirs += b"\n"
        await _send_text(send, theirs + ours)
