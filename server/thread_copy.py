"""A copied thread gets the workspace and its snapshots too: `POST /threads/{id}/copy` on `langgraph dev`.

The server copies every checkpoint (ids kept) but knows nothing of the sandbox,
so the copy would start with an empty workspace and no snapshots, and a run of
it from any checkpoint would stop on a missing snapshot. `ThreadCopy`, ASGI
middleware of our `http.app`, holds the server's answer to a copy; after a 2xx
(so the server's own auth has let the caller read the source) it copies the
source's workspace and snapshot store to the new thread, for the caller, before
the client hears back. Aegra has no copy route: `server.thread_forks` offers the
same under our own prefix there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import sandbox_process
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots
from server.credentials import scope_caller
from server.thread_removal import stored_spelling

logger = logging.getLogger(__name__)

_COPY_PATH = re.compile(r"^/threads/(?P<thread_id>[^/]+)/copy/?$")


def copied_thread_id(scope: Scope) -> str | None:
    """The source thread of a `POST /threads/{id}/copy` (as its storage is named), else None."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    match = _COPY_PATH.match(scope.get("path", ""))
    return None if match is None else stored_spelling(match["thread_id"])


def new_thread_id(body: bytes) -> str | None:
    """The copy's thread id, from the server's answer (the new thread as JSON)."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None
    return stored_spelling(payload.get("thread_id")) if isinstance(payload, dict) else None


def process_snapshots() -> WorkspaceSnapshots:
    """The snapshots of the process's deployment (`sandbox_process()`); importing never reads Docker."""
    return WorkspaceSnapshots(sandbox_process().deployment.settings)


class ThreadCopy:
    """ASGI middleware: after a successful thread copy, copy the workspace and snapshots (see the module docstring)."""

    def __init__(self, app: ASGIApp, snapshots: Callable[[], WorkspaceSnapshots]) -> None:
        self.app = app
        self.snapshots = snapshots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; hold a copy's response until the new thread has its files."""
        source = copied_thread_id(scope)
        if source is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._copy_if_done(scope, source, held)
                for kept in held:
                    await send(kept)
                held.clear()

        await self.app(scope, receive, hold)
        for kept in held:  # an answer that never finished its body
            await send(kept)

    async def _copy_if_done(self, scope: Scope, source: str, held: list[Message]) -> None:
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None or not 200 <= int(start["status"]) < 300:
            return
        target = new_thread_id(b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body"))
        user_id = await scope_caller(scope)
        if target is None or user_id is None:
            return
        try:
            await asyncio.to_thread(self.snapshots().copy_thread, source, target, user_id)
        except Exception:
            # The copy's runs will then stop on the missing snapshot, with that error: never a silent mismatch.
            logger.exception("Could not copy the workspace of thread %s to its copy %s", source, target)
