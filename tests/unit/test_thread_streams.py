"""`ThreadStreamGate`: what a v2 thread stream gets when its thread is missing, someone else's, or late.

The end-to-end behaviour on both servers is in `tests/e2e/test_v2_stream.py`; these
cases are the ones a live server cannot be made to show on demand (a thread that
never appears within the wait, a refusal from the server after the stream opened,
an oversized body), driven through the middleware's ASGI interface with a stand-in
for the server behind it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.server import ServerSettings
from server.engine import StoredThread
from server.thread_streams import MAX_SUBSCRIBE_BODY, WS_NOT_FOUND, ThreadStreamGate

THREAD = str(uuid.uuid4())
BODY = json.dumps({"channels": ["tools"]}).encode()


class Server:
    """Stands in for the LangGraph server behind the middleware: records what reached it, answers `status`."""

    def __init__(self, status: int = 200, body: bytes = b"event: tools\ndata: {}\n\n") -> None:
        self.status = status
        self.body = body
        self.received: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.received.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class Threads:
    """Thread lookups: missing for the first `missing_for` looks, then owned by `owner` (or never, with None)."""

    def __init__(self, owner: str | None, missing_for: int = 0) -> None:
        self.owner = owner
        self.missing_for = missing_for
        self.looks = 0

    async def read(self, thread_id: str) -> StoredThread | None:
        self.looks += 1
        if self.owner is None or self.looks <= self.missing_for:
            return None
        return StoredThread(thread_id, self.owner)


def gate(server: ASGIApp, threads: Threads, *, caller: str | None = "alice", wait: float = 5.0) -> ThreadStreamGate:
    async def who(scope: Scope) -> str | None:
        return caller

    return ThreadStreamGate(server, ServerSettings(stream_thread_wait=wait), caller=who, read_thread=threads.read)


async def post(app: ThreadStreamGate, body: bytes = BODY, thread_id: str = THREAD) -> tuple[int, bytes]:
    """POST a subscription; returns the status and the whole body."""
    scope: Scope = {"type": "http", "method": "POST", "path": f"/threads/{thread_id}/stream/events", "headers": []}
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    gone = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    gone.set()
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    return int(start["status"]), b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def frames(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len(b"data: ") :]) for line in body.splitlines() if line.startswith(b"data: ")]


async def test_the_owners_existing_thread_goes_straight_to_the_server() -> None:
    server = Server()
    status, body = await post(gate(server, Threads("alice")))
    assert (status, body) == (200, server.body)
    assert server.received == [BODY]


async def test_another_users_existing_thread_is_404_before_any_stream() -> None:
    server = Server()
    status, body = await post(gate(server, Threads("bob")))
    assert status == 404
    assert "not found" in json.loads(body)["detail"]
    assert server.received == []


async def test_a_thread_that_appears_later_is_served_with_the_original_filter() -> None:
    server, threads = Server(), Threads("alice", missing_for=3)
    status, body = await post(gate(server, threads))
    assert (status, body) == (200, server.body)
    assert server.received == [BODY]
    assert threads.looks == 4


async def test_a_thread_that_appears_as_someone_elses_ends_with_an_error_frame() -> None:
    server = Server()
    status, body = await post(gate(server, Threads("bob", missing_for=2)))
    assert status == 200
    [frame] = frames(body)
    assert frame["type"] == "error"
    assert frame["id"] is None
    assert frame["error"] == "not_found"
    assert server.received == []


async def test_a_thread_that_never_appears_ends_with_an_error_naming_the_setting() -> None:
    server = Server()
    status, body = await post(gate(server, Threads(None), wait=0.3))
    assert status == 200
    [frame] = frames(body)
    assert frame["error"] == "not_found"
    assert "STREAM_THREAD_WAIT" in frame["message"]
    assert server.received == []


async def test_a_refusal_from_the_server_after_the_wait_becomes_an_error_frame() -> None:
    server = Server(status=400, body=json.dumps({"detail": "channels contains unsupported entries: nope"}).encode())
    status, body = await post(gate(server, Threads("alice", missing_for=1)))
    assert status == 200
    [frame] = frames(body)
    assert (frame["error"], frame["message"]) == ("invalid_argument", "channels contains unsupported entries: nope")


async def test_an_oversized_subscription_is_refused() -> None:
    server = Server()
    status, _ = await post(gate(server, Threads(None)), body=b"x" * (MAX_SUBSCRIBE_BODY + 1))
    assert status == 413
    assert server.received == []


async def test_an_unauthenticated_request_is_left_to_the_server() -> None:
    server, threads = Server(status=401, body=b'{"detail": "no token"}'), Threads(None)
    status, _ = await post(gate(server, threads, caller=None))
    assert status == 401
    assert threads.looks == 0


async def test_other_paths_and_ids_that_are_not_uuids_pass_through() -> None:
    server, threads = Server(), Threads(None)
    status, _ = await post(gate(server, threads), thread_id="not-a-uuid")
    assert status == 200
    assert threads.looks == 0


class WebSocketServer:
    """Stands in for the server's WebSocket route: accepts, records the first command, answers, closes."""

    def __init__(self) -> None:
        self.received: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.received.append(await receive())
        await send({"type": "websocket.accept"})
        self.received.append(await receive())
        await send({"type": "websocket.send", "text": "subscribed"})
        await send({"type": "websocket.close", "code": 1000})


SUBSCRIBE: Message = {"type": "websocket.receive", "text": '{"id": 1, "method": "subscription.subscribe"}'}


async def websocket(app: ThreadStreamGate) -> list[Message]:
    """Connect, send one subscribe command at once (before the thread exists), and return what the client got."""
    scope: Scope = {"type": "websocket", "path": f"/threads/{THREAD}/stream/events", "headers": []}
    incoming: list[Message] = [{"type": "websocket.connect"}, SUBSCRIBE]
    closed = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await closed.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            closed.set()

    await asyncio.wait_for(app(scope, receive, send), 10)
    return sent


async def test_a_websocket_opened_before_its_thread_reaches_the_server_with_what_it_sent() -> None:
    server = WebSocketServer()
    sent = await websocket(gate(server, Threads("alice", 2), wait=5))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert server.received == [{"type": "websocket.connect"}, SUBSCRIBE]


async def test_a_websocket_for_a_thread_that_never_appears_closes_with_4404() -> None:
    server = WebSocketServer()
    sent = await websocket(gate(server, Threads(None), wait=0.3))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == WS_NOT_FOUND
    assert "STREAM_THREAD_WAIT" in sent[1]["reason"]
    assert server.received == []


async def test_a_websocket_for_another_users_thread_closes_with_4404_at_once() -> None:
    server = WebSocketServer()
    sent = await websocket(gate(server, Threads("bob"), wait=30))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == WS_NOT_FOUND
    assert server.received == []
