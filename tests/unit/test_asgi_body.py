"""`server.asgi_body`: a middleware reads a body up to a bound, then the server gets exactly the same messages."""

from __future__ import annotations

from starlette.types import Message

from server.asgi_body import read_request


def client(*chunks: bytes, leaves: bool = False) -> tuple[list[Message], object]:
    """The messages a client sends: `chunks` as one body (or cut short by a disconnect when `leaves`)."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": leaves or i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    if leaves:
        messages.append({"type": "http.disconnect"})
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    return messages, receive


async def test_a_whole_body_is_read_and_replayed_unchanged() -> None:
    sent, receive = client(b'{"a":', b" 1}")
    read = await read_request(receive, limit=100)  # type: ignore[arg-type]
    assert (read.body, read.over_limit) == (b'{"a": 1}', False)
    replay = read.replay(receive)  # type: ignore[arg-type]
    assert [await replay(), await replay()] == sent
    assert await replay() == {"type": "http.disconnect"}


async def test_a_body_past_the_limit_is_not_read_further_and_still_reaches_the_server_whole() -> None:
    sent, receive = client(b"x" * 60, b"y" * 60, b"z" * 60)
    read = await read_request(receive, limit=100)  # type: ignore[arg-type]
    assert (read.body, read.over_limit, len(read.messages)) == (None, True, 2)
    replay = read.replay(receive)  # type: ignore[arg-type]
    assert [await replay() for _ in sent] == sent


async def test_a_client_that_leaves_mid_body_gives_no_body() -> None:
    sent, receive = client(b"partial", leaves=True)
    read = await read_request(receive, limit=100)  # type: ignore[arg-type]
    assert (read.body, read.over_limit, read.messages) == (None, False, sent)
