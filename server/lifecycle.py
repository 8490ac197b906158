"""A thread's sandboxes live as long as the thread: cleanup on delete, a reconciler, a graceful stop.

- `ThreadDeleteCleanup` (ASGI middleware of our `http.app`) watches
  `DELETE /threads/{id}`. LangGraph has no hook after a delete (its auth handler
  runs before, also for refused attempts), so the middleware waits for the
  server's answer: only a 2xx removes the thread's containers and workspace, and
  it does so before the client hears back, so "deleted" means "gone".
- `Reconciler` runs at startup and every `SANDBOX_RECONCILE_INTERVAL` seconds:
  containers and workspaces whose thread no longer exists, and that are older
  than `SANDBOX_ORPHAN_GRACE`, are removed (a thread that exists is never
  touched; a failed existence check removes nothing); session containers stopped
  for longer than `SANDBOX_RETENTION` are removed, keeping their workspace.
- `lifespan` starts the reconciler and, on a graceful stop, stops the session
  containers this process used last and no command runs in (they start again on
  the thread's next command; other server processes keep theirs).

Thread existence is asked of the server running this process through
`server.engine` (langgraph_api's in-process client, or Aegra's database), past
authentication, so every user's threads count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.sandbox import SandboxSettings
from sandbox.cleanup import discard_thread, list_containers, remove_expired_sessions, workspace_ages
from sandbox.deployment import stop_all_sessions
from sandbox.docker_api import connect
from server import engine
from server.startup import report_disk_quotas

logger = logging.getLogger(__name__)

_THREAD_PATH = re.compile(r"^/threads/(?P<thread_id>[0-9A-Fa-f-]{32,36})/?$")


def deleted_thread_id(scope: Scope) -> str | None:
    """The thread id of a `DELETE /threads/{id}` request (normalised as LangGraph stores it), else None."""
    if scope.get("type") != "http" or scope.get("method") != "DELETE":
        return None
    match = _THREAD_PATH.match(scope.get("path", ""))
    if match is None:
        return None
    try:
        return str(uuid.UUID(match["thread_id"]))
    except ValueError:
        return None


class ThreadSandboxes:
    """The server's handle on sandboxes: one Docker client, used from worker threads."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._api: Any = None
        self._connect_lock = threading.Lock()

    @property
    def api(self) -> Any:
        """The Docker client, connected on first use; it blocks, so only worker threads touch it."""
        if self._api is None:
            with self._connect_lock:
                if self._api is None:
                    self._api = connect(self.settings.max_timeout_seconds)
        return self._api

    def _discard(self, thread_id: str) -> tuple[int, bool]:
        return discard_thread(self.api, self.settings, thread_id)

    def remove_expired(self) -> list[str]:
        """Remove session containers stopped longer than `SANDBOX_RETENTION` (blocking)."""
        return remove_expired_sessions(self.api, self.settings)

    async def discard(self, thread_id: str) -> None:
        """Remove a deleted thread's containers and workspace; errors are logged (the reconciler retries)."""
        try:
            containers, workspace = await asyncio.to_thread(self._discard, thread_id)
        except Exception:
            logger.exception("Could not remove the sandboxes of deleted thread %s; the reconciler will retry", thread_id)
            return
        logger.info("Thread %s deleted: removed %d container(s)%s", thread_id, containers, " and its workspace" if workspace else "")


class ThreadDeleteCleanup:
    """ASGI middleware: after a successful `DELETE /threads/{id}`, remove that thread's sandboxes."""

    def __init__(self, app: ASGIApp, sandboxes: Callable[[], ThreadSandboxes]) -> None:
        self.app = app
        self.sandboxes = sandboxes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; hold a thread delete's response until its sandboxes are gone."""
        thread_id = deleted_thread_id(scope)
        if thread_id is None:
            await self.app(scope, receive, send)
            return

        async def send_after_cleanup(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= int(message["status"]) < 300:
                await self.sandboxes().discard(thread_id)
            await send(message)

        await self.app(scope, receive, send_after_cleanup)


ThreadExists = Callable[[str], Awaitable[bool | None]]
"""Answers True (exists), False (the server says it does not) or None (could not tell)."""


async def thread_exists_in_process(thread_id: str) -> bool | None:
    """Ask the server running this process (`server.engine`), past authentication, whether `thread_id` exists."""
    try:
        return await engine.thread_exists(thread_id)
    except Exception:
        logger.exception("Reconciler could not ask whether thread %s exists", thread_id)
        return None


class Reconciler:
    """Removes sandboxes of threads that no longer exist, and session containers stopped too long."""

    def __init__(self, sandboxes: ThreadSandboxes, thread_exists: ThreadExists = thread_exists_in_process) -> None:
        self.sandboxes = sandboxes
        self.thread_exists = thread_exists

    def _orphan_candidates(self) -> set[str]:
        """Thread ids (valid UUIDs) whose containers or workspace are older than the grace period."""
        settings = self.sandboxes.settings
        grace = settings.orphan_grace_seconds
        candidates = {tid for tid, age in workspace_ages(settings).items() if age >= grace}
        now = time.time()
        candidates |= {c.thread_id for c in list_containers(self.sandboxes.api, settings) if now - c.created >= grace}
        return {tid for tid in candidates if _is_thread_id(tid)}

    async def run_once(self) -> list[str]:
        """One pass; returns the thread ids whose sandboxes were removed."""
        removed: list[str] = []
        candidates = await asyncio.to_thread(self._orphan_candidates)
        for thread_id in sorted(candidates):
            if await self.thread_exists(thread_id) is False:
                logger.info("Reconciler: thread %s no longer exists; removing its sandboxes", thread_id)
                await self.sandboxes.discard(thread_id)
                removed.append(thread_id)
        expired = await asyncio.to_thread(self.sandboxes.remove_expired)
        if expired:
            logger.info("Reconciler: removed %d session container(s) stopped longer than SANDBOX_RETENTION", len(expired))
        return removed

    async def run_forever(self) -> None:
        """Pass at startup, then every `SANDBOX_RECONCILE_INTERVAL` seconds; a failed pass is logged and retried."""
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("Sandbox reconciler pass failed; retrying in %ss", self.sandboxes.settings.reconcile_interval_seconds)
            await asyncio.sleep(self.sandboxes.settings.reconcile_interval_seconds)


def _is_thread_id(name: str) -> bool:
    """LangGraph thread ids are UUIDs; other folders (a script's own workspace) are not ours to judge."""
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


_sandboxes: ThreadSandboxes | None = None


def thread_sandboxes() -> ThreadSandboxes:
    """The process's `ThreadSandboxes`, built from `SANDBOX_*` on first use."""
    global _sandboxes  # noqa: PLW0603 - one per server process, built lazily so importing never reads Docker
    if _sandboxes is None:
        _sandboxes = ThreadSandboxes(SandboxSettings.from_env())
    return _sandboxes


@contextlib.asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """Report disk quotas and start the reconciler; on a graceful stop, stop it and the session containers this process used last."""
    await asyncio.to_thread(report_disk_quotas)
    reconciler = asyncio.create_task(Reconciler(thread_sandboxes()).run_forever(), name="sandbox-reconciler")
    try:
        yield
    finally:
        reconciler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciler
        stopped = await asyncio.to_thread(stop_all_sessions)
        if stopped:
            logger.info("Server stopping: stopped %d session sandbox container(s)", len(stopped))
