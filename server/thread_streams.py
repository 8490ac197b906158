"""v2 thread streams that arrive before their thread: wait for it, then serve only its owner.

The SDK's `client.threads.stream()` makes up the thread id on the client and may
subscribe (`POST /threads/{id}/stream/events`) before `run.start` creates the
thread. langgraph_api answers such a subscription 200, then checks the thread in
a background task: the owner filter finds nothing, the task logs "protocol thread
stream failed", and the stream ends with no event and no error, so the client
cannot tell an empty turn from a lost one. Aegra accepts it and lists only the
caller's runs, so a subscription to another user's future thread stays open and
silent. Letting the server skip its check for missing threads is no answer: the
subscriber would then see whatever run later lands on that id, whoever starts it.

`ThreadStreamGate`, ASGI middleware of our `http.app` in front of both servers,
makes one behaviour hold on both:

- the thread exists and is the caller's: passed through untouched;
- it exists and is another user's: 404 before any stream opens, as every other
  thread route answers;
- it does not exist yet: the subscription is answered at once (200,
  `text/event-stream`, so a client that waits for the stream to open before
  starting its run does not deadlock), waits up to `STREAM_THREAD_WAIT` seconds
  for the thread, and then is handed to the server, which replays the thread's
  events from its start (nothing emitted in between is lost, nothing twice); or,
  when the thread turned out to be another user's or never appeared, it ends with
  a protocol error frame (`{"type": "error", "id": null, ...}`, which the SDK
  reports) instead of silently. Both cases read "not found", so waiting on an id
  tells nobody whether another user has it;
- the WebSocket variant waits the same way: accepted at once, what the client
  sends meanwhile (its `subscription.subscribe`) is kept and handed to the server
  with the socket; when the thread turns out to be another user's or never
  appears, it is closed with code 4404 and the reason, which the SDK treats as
  final. (The SDK sends `run.start` over HTTP; a client that sends it on the
  socket itself must create the thread first.)

The caller is authenticated with the API's own function; a request that does not
authenticate is passed through, for the server to refuse with its 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.server import ServerSettings
from server import engine
from server.asgi_body import read_request, send_json_error
from server.credentials import scope_caller
from server.engine import StoredThread

logger = logging.getLogger(__name__)

_STREAM_PATH = re.compile(r"^/threads/(?P<thread_id>[^/]+)/stream/events/?$")
MAX_SUBSCRIBE_BODY = 64 * 1024
"""A subscription's filter is a few channel names; a larger body is refused (413) rather than buffered."""
HEARTBEAT_SECONDS = 10.0
"""While waiting, an SSE comment this often keeps proxies from closing an idle stream."""
_FIRST_POLL, _LONGEST_POLL = 0.02, 0.5
"""Seconds between looks for the thread: quick at first (a run usually follows at once), then backing off."""
WS_NOT_FOUND = 4404
"""WebSocket close code for "not found" (4000 + the HTTP status, as the SDK reads it)."""
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]

Caller = Callable[[Scope], Awaitable[str | None]]


def streamed_thread_id(scope: Scope) -> str | None:
    """The canonical thread id of a v2 stream request (`POST` or WebSocket), else None."""
    kind, method = scope.get("type"), scope.get("method")
    if not (kind == "websocket" or (kind == "http" and method == "POST")):
        return None
    match = _STREAM_PATH.match(scope.get("path", ""))
    if match is None:
        return None
    try:
        return str(uuid.UUID(match["thread_id"]))
    except ValueError:
        return None


def error_frame(error: str, message: str) -> bytes:
    """An unsolicited protocol error event, as the SDK recognises one (`stream_error_frame`)."""
    data = json.dumps({"type": "error", "id": None, "error": error, "message": message})
    return f"event: error\ndata: {data}\n\n".encode()


class ThreadStreamGate:
    """ASGI middleware: a v2 thread stream is served only to its thread's owner, also when it arrives first."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServerSettings,
        caller: Caller = scope_caller,
        read_thread: engine.ThreadReader = engine.read_thread,
    ) -> None:
        self.app = app
        self.wait_seconds = settings.stream_thread_wait
        self.caller = caller
        self.read_thread = read_thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through but v2 thread streams on threads the caller does not (yet) own."""
        thread_id = streamed_thread_id(scope)
        user = None if thread_id is None else await self.caller(scope)
        if thread_id is None or user is None:
            await self.app(scope, receive, send)
            return
        try:
            thread = await self.read_thread(thread_id)
        except Exception:
            # Without an answer the server's own checks still apply; only the early wait is lost.
            logger.exception("Could not look up thread %s for a stream subscription; passing it to the server", thread_id)
            await self.app(scope, receive, send)
            return
        if thread is not None and thread.owner == user:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._wait_then_serve_websocket(scope, receive, send, thread_id, user=user, thread=thread)
        elif thread is not None:
            await send_json_error(send, 404, f"Thread {thread_id} not found")
        else:
            await self._wait_then_serve(scope, receive, send, thread_id, user)

    def _not_found(self, thread_id: str, thread: StoredThread | None) -> str:
        """Why a waiting stream ends: the same "not found" whether the thread is missing or another user's."""
        if thread is not None:
            return f"Thread {thread_id} not found"
        return f"Thread {thread_id} not found: no run created it within {self.wait_seconds:g} s (STREAM_THREAD_WAIT)"

    async def _wait_then_serve(self, scope: Scope, receive: Receive, send: Send, thread_id: str, user: str) -> None:
        read = await read_request(receive, MAX_SUBSCRIBE_BODY)
        if read.over_limit:
            await send_json_error(send, 413, f"a stream subscription's body is limited to {MAX_SUBSCRIBE_BODY} bytes")
            return
        if read.body is None:
            return  # the client left before its subscription was complete
        body = read.body
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        disconnect = asyncio.ensure_future(_next_disconnect(receive))
        try:
            thread = await self._wait_for_thread(thread_id, disconnect, send)
            if disconnect.done():
                return
            if thread is None or thread.owner != user:
                frame = error_frame("not_found", self._not_found(thread_id, thread))
                await send({"type": "http.response.body", "body": frame, "more_body": False})
                return
            body_message: Message = {"type": "http.request", "body": body, "more_body": False}
            await self.app(scope, _first_then(body_message, lambda: asyncio.shield(disconnect)), _as_stream_body(send))
        finally:
            if not disconnect.done():
                disconnect.cancel()

    async def _wait_then_serve_websocket(
        self, scope: Scope, receive: Receive, send: Send, thread_id: str, *, user: str, thread: StoredThread | None
    ) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        incoming: asyncio.Queue[Message] = asyncio.Queue()
        gone: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        pump = asyncio.create_task(_pump_websocket(receive, incoming, gone))
        try:
            if thread is None:
                thread = await self._wait_for_thread(thread_id, gone)
            if gone.done():
                return
            if thread is None or thread.owner != user:
                await send({"type": "websocket.close", "code": WS_NOT_FOUND, "reason": self._not_found(thread_id, thread)[:123]})
                return
            await self.app(scope, _first_then(first, incoming.get), _accepted_websocket(send))
        finally:
            pump.cancel()

    async def _wait_for_thread(self, thread_id: str, gone: asyncio.Future[Message], send: Send | None = None) -> StoredThread | None:
        """The thread once it exists (None after the wait); heartbeats go to `send`; returns early once the client is `gone`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        next_heartbeat = loop.time() + HEARTBEAT_SECONDS
        pause = _FIRST_POLL
        while not gone.done():
            thread = await self.read_thread(thread_id)
            if thread is not None or loop.time() >= deadline:
                return thread
            if send is not None and loop.time() >= next_heartbeat:
                await send({"type": "http.response.body", "body": b": waiting for the thread\n\n", "more_body": True})
                next_heartbeat = loop.time() + HEARTBEAT_SECONDS
            await asyncio.wait({gone}, timeout=min(pause, max(deadline - loop.time(), 0)))
            pause = min(pause * 2, _LONGEST_POLL)
        return None


async def _next_disconnect(receive: Receive) -> Message:
    """Wait for the client to go away (the only message left once the body is read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return message


def _first_then(first: Message, rest: Callable[[], Awaitable[Message]]) -> Receive:
    """The server's `receive`: `first` (what we already read from the client), then `rest()` for every later message."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await rest()

    return receive


def _as_stream_body(send: Send) -> Send:
    """The server's `send` once our 200 is out: its stream's body passes through; a refusal becomes an error frame."""
    status = 200
    refusal = bytearray()

    async def forward(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            return
        if message["type"] != "http.response.body":
            return
        if status == 200:
            await send(message)
            return
        refusal.extend(message.get("body", b""))
        if not message.get("more_body", False):
            frame = error_frame(_error_code(status), _detail(refusal, status))
            await send({"type": "http.response.body", "body": frame, "more_body": False})

    return forward


def _error_code(status: int) -> str:
    return {400: "invalid_argument", 401: "unauthorized", 403: "forbidden", 404: "not_found", 422: "invalid_argument"}.get(
        status, "internal_error" if status >= 500 else "invalid_argument"
    )


def _detail(body: bytes | bytearray, status: int) -> str:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace") or f"HTTP {status}"
    if isinstance(parsed, dict) and parsed.get("detail"):
        return str(parsed["detail"])
    return json.dumps(parsed)


async def _pump_websocket(receive: Receive, incoming: asyncio.Queue[Message], gone: asyncio.Future[Message]) -> None:
    """Keep what the client sends while the thread is awaited; note when it leaves."""
    while True:
        message = await receive()
        incoming.put_nowait(message)
        if message["type"] == "websocket.disconnect":
            if not gone.done():
                gone.set_result(message)
            return


def _accepted_websocket(send: Send) -> Send:
    """The server's `send` on a socket we already accepted: its own accept is not sent twice."""

    async def forward(message: Message) -> None:
        if message["type"] != "websocket.accept":
            await send(message)

    return forward
