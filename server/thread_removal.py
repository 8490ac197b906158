"""One removal for every request that removes threads: `DELETE /threads/{id}` and `POST /threads/prune`.

Neither server has a hook after a thread is gone (the auth handler runs before,
also for refused attempts), so `ThreadRemoval`, ASGI middleware of our `http.app`,
wraps both requests:

1. before the server sees the request, it works out which threads the request
   may remove: the id in a delete's path; the ids a prune names (`langgraph dev`
   prunes by id); the caller's expired TTL threads (Aegra prunes those without
   naming them, `server.engine.expired_thread_ids`);
2. it holds the server's answer; only after a 2xx does it remove the sandboxes
   (containers, workspace, disk image) of those threads that no longer exist,
   before the client hears back, so "deleted" means "gone" and a thread created
   later with the same id, by anyone, starts empty.

Whatever else makes a thread disappear (Aegra's TTL sweeper, a stateless run's
temporary thread, a crash between the delete and the removal) is left to the
reconciler (`server.lifecycle.Reconciler`), which removes the same way.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.disks.thread_ids import storage_name, uuid_form
from sandbox.runs.errors import InvalidThreadIdError
from server import engine
from server.asgi_body import read_request
from server.credentials import scope_caller
from server.engine import ThreadExists

logger = logging.getLogger(__name__)

_THREAD_PATH = re.compile(r"^/threads/(?P<thread_id>[^/]+)/?$")
PRUNE_PATH = "/threads/prune"
MAX_PRUNE_BODY = 1024**2
"""A prune body larger than this is passed on unread; its threads are left to the reconciler."""


class RemovesThreads(Protocol):
    """What the middleware needs of `server.lifecycle.ThreadSandboxes`."""

    async def remove(self, thread_id: str) -> None:
        """Remove a gone thread's containers, workspace and disk image."""
        ...


def stored_spelling(raw: object) -> str | None:
    """The name a thread's storage has, from an id as a request spells it; None if it cannot name storage.

    Both servers resolve a UUID in any spelling to the thread with the canonical
    one (Aegra compares strings, and a thread named in another spelling never got
    storage: `sandbox.disks.thread_ids` refuses it), so a UUID maps to its canonical form.
    """
    if not isinstance(raw, str):
        return None
    canonical = uuid_form(raw)
    if canonical is not None:
        return canonical
    try:
        return storage_name(raw)
    except InvalidThreadIdError:
        return None


def deleted_thread_id(scope: Scope) -> str | None:
    """The thread a `DELETE /threads/{id}` request removes (as its storage is named), else None."""
    if scope.get("type") != "http" or scope.get("method") != "DELETE":
        return None
    match = _THREAD_PATH.match(scope.get("path", ""))
    return None if match is None else stored_spelling(match["thread_id"])


def is_prune(scope: Scope) -> bool:
    """Whether the request is a `POST /threads/prune`."""
    return scope.get("type") == "http" and scope.get("method") == "POST" and scope.get("path", "").rstrip("/") == PRUNE_PATH


def named_thread_ids(body: bytes) -> list[str]:
    """The thread ids a prune body names (`{"thread_ids": [...]}`), as their storage is named."""
    try:
        payload: Any = json.loads(body) if body else {}
    except ValueError:
        return []
    ids = payload.get("thread_ids") if isinstance(payload, dict) else None
    if not isinstance(ids, list):
        return []
    return sorted({name for name in map(stored_spelling, ids) if name is not None})


class ThreadRemoval:
    """ASGI middleware: after a successful delete or prune, remove the removed threads' sandboxes."""

    def __init__(
        self, app: ASGIApp, sandboxes: Callable[[], RemovesThreads], thread_exists: ThreadExists = engine.thread_exists_or_unknown
    ) -> None:
        self.app = app
        self.sandboxes = sandboxes
        self.thread_exists = thread_exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; hold a delete's or prune's response until the removed threads' sandboxes are gone."""
        deleted = deleted_thread_id(scope)
        if deleted is not None:
            await self._run_then_clean(scope, receive, send, [deleted])
        elif is_prune(scope):
            read = await read_request(receive, MAX_PRUNE_BODY)
            candidates = set(named_thread_ids(read.body or b""))
            if (user_id := await scope_caller(scope)) is not None:
                candidates.update(await self._expired(user_id))
            await self._run_then_clean(scope, read.replay(receive), send, sorted(candidates))
        else:
            await self.app(scope, receive, send)

    async def _expired(self, user_id: str) -> list[str]:
        try:
            return [name for name in map(stored_spelling, await engine.expired_thread_ids(user_id)) if name is not None]
        except Exception:
            logger.exception("Could not list the expired threads of %s before a prune; the reconciler will clean up after it", user_id)
            return []

    async def _run_then_clean(self, scope: Scope, receive: Receive, send: Send, threads: Iterable[str]) -> None:
        async def send_after_removal(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= int(message["status"]) < 300:
                await self._remove_gone(threads)
            await send(message)

        await self.app(scope, receive, send_after_removal)

    async def _remove_gone(self, threads: Iterable[str]) -> None:
        """Remove the sandboxes of those `threads` the server no longer has.

        Asked even after a delete: on Aegra, `DELETE /threads/<ID>` in capitals
        removes a thread stored under that very spelling (made before such ids were
        refused), while the storage named by the canonical spelling belongs to the
        thread that still exists under it.
        """
        for thread_id in threads:
            if await self.thread_exists(thread_id) is not False:
                continue  # still there (a prune may skip a thread), or unknown: the reconciler decides later
            await self.sandboxes().remove(thread_id)
