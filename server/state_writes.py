"""Refuse direct writes to a thread's graph state: only runs change it.

`POST /threads/{id}/state` with `values` or `as_node` writes a checkpoint as if a
node had run: with `as_node` set to the approval node it makes the tools node
next, and its `values` can hold a tool call nobody approved. `POST /threads`
with `supersteps` (langgraph_api) creates a thread from such writes. Neither
server lets the auth handler tell these bodies from a read: langgraph_api gives
the `threads.update` handler only the thread id, so the refusal happens here,
in our `http.app` middleware, which both servers run around their own routes.

A body without `values`, `as_node` or `supersteps` (the POST form of reading
state) passes unchanged, and so does everything else. Runs still write state as
they always do, through the approval step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STATE_PATH = re.compile(r"^/threads/[^/]+/state/?$")
_THREADS_PATH = re.compile(r"^/threads/?$")

MAX_INSPECTED_BYTES = 64 * 1024 * 1024
"""Bodies larger than this are refused outright (413) instead of being held to be inspected."""

REFUSAL = (
    "a thread's state is written only by its runs, never directly ({fields} refused, nothing was changed): "
    "start a turn with input, and answer an approval with command.resume"
)


def state_write_fields(path: str, body: Mapping[str, Any]) -> list[str]:
    """The fields of a `POST` body to `path` that would write graph state directly (empty: not a state write)."""
    if _STATE_PATH.match(path):
        return [f for f in ("values", "as_node") if body.get(f) is not None]
    if _THREADS_PATH.match(path) and body.get("supersteps"):
        return ["supersteps"]
    return []


def _watched(scope: Scope) -> bool:
    if scope["type"] != "http" or scope.get("method") != "POST":
        return False
    path = str(scope.get("path", ""))
    return bool(_STATE_PATH.match(path) or _THREADS_PATH.match(path))


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


class StateWriteGuard:
    """ASGI middleware: 403 for a request body that writes a thread's graph state directly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a watched request's body, refuse a state write, and replay the body to the server otherwise."""
        if not _watched(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > MAX_INSPECTED_BYTES:
                await _answer(send, 413, f"request body over {MAX_INSPECTED_BYTES} bytes")
                return
            if not message.get("more_body", False):
                break
        try:
            body = json.loads(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request") or b"{}")
        except ValueError:
            body = {}  # not JSON: the server answers it as it would
        if isinstance(body, Mapping) and (fields := state_write_fields(str(scope["path"]), body)):
            await _answer(send, 403, REFUSAL.format(fields=", ".join(fields)))
            return

        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)
