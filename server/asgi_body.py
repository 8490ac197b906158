"""Reading a request body in ASGI middleware, then handing the request on as if nothing was read.

Several of our middlewares must look at a request's JSON before the server does
(a store search it would 500 on, a state write that skips approvals, the thread
ids a prune names, a stream subscription that must wait). Each reads the body up
to a bound, decides, and either answers itself or passes the very same messages
to the server. This module is that read, its replay and the JSON answer, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.types import Message, Receive, Send


@dataclass
class ReadRequest:
    """What a middleware read of a request: its messages, in order, and the body they make up."""

    messages: list[Message] = field(default_factory=list)
    body: bytes | None = None
    """The whole body; None when it passed the bound or the client left before it ended."""
    over_limit: bool = False
    """Whether the body passed the bound (the rest of it is still unread)."""

    def replay(self, receive: Receive) -> Receive:
        """A `receive` for the server: the messages already read, then the client's own."""
        pending = list(self.messages)

        async def replayed() -> Message:
            return pending.pop(0) if pending else await receive()

        return replayed


async def read_request(receive: Receive, limit: int) -> ReadRequest:
    """Read the request body up to `limit` bytes (the messages past it stay unread)."""
    read = ReadRequest()
    size = 0
    while True:
        message = await receive()
        read.messages.append(message)
        if message["type"] != "http.request":
            return read
        size += len(message.get("body", b""))
        if size > limit:
            read.over_limit = True
            return read
        if not message.get("more_body", False):
            read.body = b"".join(m.get("body", b"") for m in read.messages)
            return read


async def send_json_error(send: Send, status: int, detail: str) -> None:
    """Answer `{"detail": ...}` with `status`, the shape langgraph_api's own errors have."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
