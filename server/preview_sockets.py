"""Talking to a previewed app through its relay socket: one HTTP request, or one WebSocket bridged to the browser.

The socket is reached by the fd `sandbox.previews.host_side` opened and checked
(`/proc/self/fd/<fd>`), never by its name. A socket left by a relay that is
gone refuses the connection: the relay is started again once and the request
tried once more, which is why request bodies are passed whole, not streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import cast

import httpx
from starlette.background import BackgroundTask
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from sandbox.previews.host_side import socket_address

OpenRelay = Callable[[bool], Awaitable[int]]
"""Opens the relay socket's fd; `True` asks for a fresh relay (the socket refused the connection)."""
MAX_MESSAGE_BYTES = 16 * 1024**2
TIMEOUT = httpx.Timeout(30.0, read=None)
"""An app may stream its answer (server-sent events) for as long as the browser keeps reading."""


async def upstream_request(
    open_relay: OpenRelay, method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[httpx.Response, BackgroundTask]:
    """Send one request to the app at `target` (path and query); its streamed response and the task that closes it."""
    for restart in (False, True):
        fd = await open_relay(restart)
        client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_address(fd)), timeout=TIMEOUT)
        try:
            request = client.build_request(method, httpx.URL("http://localhost" + target), headers=headers, content=body or None)
            response = await client.send(request, stream=True)
        except httpx.ConnectError:
            await client.aclose()
            if restart:
                raise
            continue
        except BaseException:
            await client.aclose()
            raise
        finally:
            os.close(fd)  # connected (or failed): the fd only named the socket

        async def close(response: httpx.Response = response, client: httpx.AsyncClient = client) -> None:
            await response.aclose()
            await client.aclose()

        return response, BackgroundTask(close)
    raise AssertionError  # the loop returns or raises


async def _connect(open_relay: OpenRelay, uri: str, subprotocols: list[Subprotocol] | None) -> ClientConnection:
    for restart in (False, True):
        fd = await open_relay(restart)
        try:
            return await unix_connect(
                socket_address(fd), uri=uri, subprotocols=subprotocols, open_timeout=10, max_size=MAX_MESSAGE_BYTES, compression=None
            )
        except ConnectionRefusedError:
            if restart:
                raise
        finally:
            os.close(fd)
    raise AssertionError


async def _browser_to_app(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    await upstream.close()


async def _app_to_browser(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in upstream:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
    with contextlib.suppress(RuntimeError):
        await websocket.close(code=upstream.close_code or 1000)


async def bridge_websocket(websocket: WebSocket, open_relay: OpenRelay, port: int, target: str) -> None:
    """Open the app's WebSocket at `target`, accept the browser's with the same subprotocol, and pass messages both ways."""
    requested = [Subprotocol(name) for name in websocket.scope.get("subprotocols") or []]
    try:
        upstream = await _connect(open_relay, f"ws://localhost:{port}{target}", requested or None)
    except (OSError, InvalidHandshake, TimeoutError):
        await websocket.close(code=1011)
        return
    async with upstream:
        await websocket.accept(subprotocol=cast("str | None", upstream.subprotocol))
        tasks = [asyncio.create_task(_browser_to_app(websocket, upstream)), asyncio.create_task(_app_to_browser(websocket, upstream))]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
