"""`McpSessions`: one long-lived MCP client session per (thread, server), from first use to the thread's end.

langchain-mcp-adapters' `get_tools()` opens a new session for every call; a stdio
server that starts per call loses whatever it holds between calls (an open file, a
cache, a login) and pays its start-up each time. Here a session is started on the
thread's first use of the server and kept open: later calls of the thread reuse it,
until the thread is deleted (`close_thread`), the server process stops (`close_all`),
or the server ends by itself (its next use starts it again).

Each session lives in a task of its own, which enters and leaves the transport and
the `ClientSession` (anyio's cancel scopes must be left by the task that entered
them); callers only send requests through it. A pump between the transport and the
session notices the server's end, so a call after a crash fails at once instead of
waiting for a reply that cannot come. Sessions belong to the event loop that started
them; a call from another loop starts its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
from mcp import ClientSession
from mcp.shared.message import SessionMessage
from mcp.types import CallToolResult, ListToolsResult, PaginatedRequestParams, ServerNotification, Tool, ToolListChangedNotification

from config.mcp import HttpServer, McpServer
from sandbox.disks.workspace import ThreadRef
from sandbox.mcp.launch import (
    McpUnavailableError,
    Transport,
    container_for,
    describe,
    docker_cli,
    http_transport,
    remove_own_container,
    stdio_transport,
)
from sandbox.runs.audit import audit_log

if TYPE_CHECKING:
    from sandbox.containers.deployment import SandboxDeployment

logger = logging.getLogger(__name__)

START_SECONDS = 30.0
"""Longest a server may take to start and answer `initialize`."""
CLOSE_SECONDS = 5.0


class LiveSession:
    """One open session to one server, in a task of its own (see the module docstring)."""

    def __init__(
        self,
        label: str,
        transport: Transport,
        on_close: Callable[[], Awaitable[None]] | None = None,
        on_tools_changed: Callable[[], None] | None = None,
    ) -> None:
        self.label = label
        self._transport = transport
        self._on_close = on_close
        self._on_tools_changed = on_tools_changed
        """Called when the server says its tool list changed (`notifications/tools/list_changed`)."""
        self.loop = asyncio.get_running_loop()
        self.session: ClientSession | None = None
        self.error: BaseException | None = None
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        """Set by `close()` or by the server's end; the task then leaves the session and the transport."""
        self._task: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        """Whether calls may still go through this session (it started and has not ended)."""
        return self.session is not None and not self._done.is_set() and self.loop is asyncio.get_running_loop()

    async def start(self) -> ClientSession:
        """Start the server and initialize the session; `McpUnavailableError` saying why it could not."""
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.label}")
        try:
            await asyncio.wait_for(self._ready.wait(), START_SECONDS)
        except TimeoutError:
            await self.close()
            msg = f"{self.label} did not answer within {START_SECONDS:.0f}s of starting"
            raise McpUnavailableError(msg) from None
        if self.session is None:
            msg = f"{self.label} could not be started: {_reason(self.error)}"
            raise McpUnavailableError(msg)
        return self.session

    async def _run(self) -> None:
        try:
            async with self._transport() as (read, write):
                to_session, session_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)

                async def pump() -> None:
                    async with to_session:
                        async for message in read:
                            await to_session.send(message)
                    self._done.set()  # the server ended (or its connection did)

                async with anyio.create_task_group() as group:
                    group.start_soon(pump)
                    async with ClientSession(session_reads, write, message_handler=self._notice) as session:
                        await session.initialize()
                        self.session = session
                        self._ready.set()
                        await self._done.wait()
                    group.cancel_scope.cancel()
        except Exception as exc:  # a failed start or a crash: recorded for the caller, logged here
            self.error = exc
            logger.info("%s ended: %s", self.label, _reason(exc))
        finally:
            self._done.set()
            self._ready.set()
            self.session = None
            if self._on_close is not None:
                try:
                    await self._on_close()
                except Exception:
                    logger.exception("Could not clean up after %s", self.label)

    async def _notice(self, message: object) -> None:
        """The server's notifications: a changed tool list is passed on; the rest (logs, progress) are not used."""
        if (
            isinstance(message, ServerNotification)
            and isinstance(message.root, ToolListChangedNotification)
            and self._on_tools_changed is not None
        ):
            self._on_tools_changed()

    async def request[T](self, send: Callable[[ClientSession], Awaitable[T]]) -> T:
        """`send` a request through the session; `McpUnavailableError` as soon as the server ends instead of answering.

        The SDK fails requests that wait when the connection closes, but one sent after the
        close would wait for its full timeout: racing the server's end answers at once.
        """
        if self.session is None or self._done.is_set():
            msg = f"{self.label} has ended"
            raise McpUnavailableError(msg)
        call = asyncio.ensure_future(send(self.session))
        ended = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({call, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if call.done():
            return call.result()
        call.cancel()
        msg = f"{self.label} ended without answering"
        raise McpUnavailableError(msg)

    async def close(self) -> None:
        """End the session and its server; waits briefly, then cancels."""
        self._done.set()
        if self._task is None or self._task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _reason(error: BaseException | None) -> str:
    """The innermost message of an error (anyio wraps failures of its task groups in exception groups)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if error is None:
        return "it ended before it answered"
    return str(error) or type(error).__name__


async def _end(live: LiveSession) -> None:
    """Close `live` from whichever loop is running: a session's task can only be ended by the loop that runs it."""
    if live.loop is asyncio.get_running_loop():
        await live.close()
    elif not live.loop.is_closed():
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(live.close(), live.loop))


def _tools_page(cursor: str | None) -> Callable[[ClientSession], Awaitable[ListToolsResult]]:
    """The `tools/list` request of one page (the first without a cursor)."""

    def send(session: ClientSession) -> Awaitable[ListToolsResult]:
        return session.list_tools(params=PaginatedRequestParams(cursor=cursor)) if cursor else session.list_tools()

    return send


@dataclass(frozen=True)
class _Key:
    thread_id: str
    server: str


class McpSessions:
    """The live MCP sessions of one deployment's threads, one per (thread, server)."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.deployment = deployment
        self._live: dict[_Key, LiveSession] = {}
        self._starting: dict[_Key, asyncio.Lock] = {}
        self._tool_changes: dict[str, int] = {}
        """How often each server said its tool list changed, in any thread's session."""

    def tool_list_version(self, server: str) -> int:
        """Grows each time `server` says its tools changed: a tool list read at an older version is stale."""
        return self._tool_changes.get(server, 0)

    def _tools_changed(self, server: str) -> Callable[[], None]:
        def changed() -> None:
            self._tool_changes[server] = self._tool_changes.get(server, 0) + 1
            logger.info("MCP server %r says its tools changed", server)

        return changed

    async def session(self, ref: ThreadRef, server: McpServer) -> LiveSession:
        """The thread's open session to `server`, started now if it has none (or its last one ended)."""
        key = _Key(ref.thread_id, server.name)
        lock = self._starting.setdefault(key, asyncio.Lock())
        async with lock:
            live = self._live.get(key)
            if live is not None and live.open:
                return live
            if live is not None:
                await _end(live)
            live = await self._open(ref, server)
            self._live[key] = live
            try:
                await live.start()
            except McpUnavailableError:
                self._live.pop(key, None)
                raise
            return live

    async def _open(self, ref: ThreadRef, server: McpServer) -> LiveSession:
        label = describe(server)
        if isinstance(server, HttpServer):
            return LiveSession(label, http_transport(server), on_tools_changed=self._tools_changed(server.name))
        deployment = self.deployment
        cli = await asyncio.to_thread(docker_cli)  # it searches PATH on disk
        try:
            container_id, own = await deployment.commands.run(ref.user_id, container_for, deployment, ref, server)
        except Exception as exc:
            msg = f"{label} could not be started: its sandbox is not available ({exc})"
            raise McpUnavailableError(msg) from exc

        async def remove_container() -> None:
            await asyncio.to_thread(remove_own_container, deployment, container_id)

        logger.info("Thread %s: starting %s in container %s", ref.thread_id, label, container_id[:12])
        return LiveSession(
            label,
            stdio_transport(deployment, cli, container_id, server),
            remove_container if own else None,
            on_tools_changed=self._tools_changed(server.name),
        )

    async def list_tools(self, ref: ThreadRef, server: McpServer) -> list[Tool]:
        """Every tool `server` offers, through the thread's session (pages followed)."""
        live = await self.session(ref, server)
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            page = await live.request(_tools_page(cursor))
            tools.extend(page.tools)
            cursor = page.nextCursor
            if not cursor:
                return tools

    async def call_tool(self, ref: ThreadRef, server: McpServer, tool: str, arguments: dict[str, object], seconds: float) -> CallToolResult:
        """Call `tool` through the thread's session, audited; a session that failed is closed, so the next call starts it again."""
        started = time.monotonic()
        error: str | None = None
        try:
            live = await self.session(ref, server)
            try:
                async with self._in_use(ref, server):
                    result = await live.request(
                        lambda session: session.call_tool(tool, arguments, read_timeout_seconds=timedelta(seconds=seconds))
                    )
            except Exception as exc:
                await self.close(ref.thread_id, server.name)
                msg = f"{describe(server)} failed during the call: {_reason(exc)}"
                raise McpUnavailableError(msg) from exc
            if result.isError:
                error = "the tool answered with an error"
        except McpUnavailableError as exc:
            error = str(exc)
            raise
        finally:
            record = {"server": server.name, "tool": tool, "arguments": arguments, "error": error}
            await asyncio.to_thread(self._audit, ref, (time.monotonic() - started) * 1000, record)
        return result

    @contextlib.asynccontextmanager
    async def _in_use(self, ref: ThreadRef, server: McpServer) -> AsyncIterator[None]:
        """While a call runs in the thread's session container, that container is in use, as under a command.

        So no process's idle reaper, cap or graceful stop stops it (and the server) mid-call; between calls
        it may, and the thread's next call starts the server again.
        """
        if isinstance(server, HttpServer) or self.deployment.settings.mode != "session":
            yield
            return
        hold = self.deployment.in_use(ref.thread_id)
        await asyncio.to_thread(hold.__enter__)  # the use file's lock: blocking file I/O
        try:
            yield
        finally:
            await asyncio.to_thread(hold.__exit__, None, None, None)

    def _audit(self, ref: ThreadRef, duration_ms: float, record: dict[str, Any]) -> None:
        audit_log(self.deployment.settings).mcp_call(user_id=ref.user_id, thread_id=ref.thread_id, duration_ms=duration_ms, **record)

    async def close(self, thread_id: str, server: str) -> None:
        """End one session, if open."""
        self._starting.pop(_Key(thread_id, server), None)
        live = self._live.pop(_Key(thread_id, server), None)
        if live is not None:
            await _end(live)

    async def close_thread(self, thread_id: str) -> int:
        """End every session of a thread (it was deleted); how many were open."""
        keys = [key for key in self._live if key.thread_id == thread_id]
        for key in keys:
            await self.close(key.thread_id, key.server)
        return len(keys)

    async def close_all(self) -> int:
        """End every session this deployment holds (the server stops); how many."""
        keys = list(self._live)
        for key in keys:
            await self.close(key.thread_id, key.server)
        return len(keys)

    def open_sessions(self, thread_id: str | None = None) -> list[str]:
        """The servers with an open session (of one thread, or all as `thread/server`), for logs and tests."""
        return [
            key.server if thread_id is not None else f"{key.thread_id}/{key.server}"
            for key, live in self._live.items()
            if (thread_id is None or key.thread_id == thread_id) and live.session is not None
        ]
