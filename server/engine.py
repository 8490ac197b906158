"""What `server/` asks the server it runs in, whichever server that is: `langgraph dev` or Aegra.

Two questions, answered in process and past authentication (callers apply
ownership themselves, from `StoredThread.owner`):

- `read_thread(thread_id)`: the stored thread, its owner, and the interrupts it
  waits on (the resume check and the approval audit need them);
- `thread_exists(thread_id)`: for the reconciler, which runs outside any request;
- `has_checkpoint(thread_id, checkpoint_id)`: whether a run may start from that
  checkpoint (a made-up id would otherwise start a run that fails with nothing to do);
- `expired_thread_ids(user_id)`: threads a `POST /threads/prune` of that user may
  remove without naming them (Aegra prunes the caller's expired TTL threads;
  `langgraph dev` prunes only the ids in the request, so it has none).
- `count_interrupted()`: threads of every user paused on a decision, the pending
  approvals that `/metrics` shows (the count lives with the threads, so it holds
  across processes and restarts).

Each server answers from its own store, without blocking the event loop:

- `langgraph dev` (langgraph_api): the SDK's in-process client
  (`get_client(url=None)`), an ASGI call into the running server under `/noauth`;
- Aegra (aegra_api): its database (the thread row, whose `user_id` is the owner
  Aegra itself enforces) and its graph service (the latest checkpoint's pending
  interrupts, read the way its own `GET /threads/{id}/state` reads them).

Which one serves is decided from the server modules already running in this
process, never by importing one: langgraph_api is installed next to Aegra, and
`get_client(url=None)` would import `langgraph_api.server`, a second, empty,
in-memory server that answers "not found" for every thread. With neither
running, `EngineUnavailableError` says so instead of guessing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore
    from langgraph_sdk.client import LangGraphClient

logger = logging.getLogger(__name__)

OWNER_KEY = "owner"
"""Metadata key naming the user a thread, run, cron or assistant belongs to (`server/auth.py` stamps it)."""

AEGRA_MODULE = "aegra_api.main"
LANGGRAPH_API_MODULE = "langgraph_api.server"


ThreadExists = Callable[[str], Awaitable[bool | None]]
"""Answers True (exists), False (the server says it does not) or None (could not tell)."""


class EngineUnavailableError(RuntimeError):
    """No LangGraph server runs in this process, so there is nothing to ask."""


@dataclass(frozen=True)
class StoredThread:
    """A thread as its server stores it, whoever asks."""

    thread_id: str
    owner: str | None
    """The user the server considers the thread's owner."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    pending: Mapping[str, Any] = field(default_factory=dict)
    """`{interrupt_id: value}` of what the thread waits on (subagents' interrupts included)."""
    updated_at: datetime | None = None
    """When the thread last changed: for a paused thread, when its run paused (the approval wait starts there)."""


class Engine(Protocol):
    """The two questions, as one server answers them."""

    name: str

    async def read_thread(self, thread_id: str) -> StoredThread | None:
        """The thread, or None when the server has no such thread."""
        ...

    async def thread_exists(self, thread_id: str) -> bool:
        """Whether the server has the thread; raises when it cannot tell."""
        ...

    async def has_checkpoint(self, thread: StoredThread, checkpoint_id: str) -> bool:
        """Whether the thread's history holds that (top-level) checkpoint."""
        ...

    async def expired_thread_ids(self, user_id: str) -> list[str]:
        """The user's threads a prune that names no ids would remove now."""
        ...

    async def count_interrupted(self) -> int:
        """How many threads, of every user, are paused on an interrupt (in this graph: a reviewer's decision)."""
        ...

    async def store(self) -> BaseStore:
        """The LangGraph store the server gives its graphs (past authentication: every namespace)."""
        ...


def timestamp(value: object) -> datetime | None:
    """A server's timestamp (a datetime, or ISO text from the API) as an aware datetime; None when it is neither."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def pending_interrupts(thread: Mapping[str, Any]) -> dict[str, Any]:
    """`{interrupt_id: value}` from a langgraph_api thread's `interrupts` (`{task_id: [interrupt, ...]}`)."""
    found: dict[str, Any] = {}
    for interrupts in (thread.get("interrupts") or {}).values():
        for interrupt in interrupts or []:
            if isinstance(interrupt, Mapping) and interrupt.get("id"):
                found[str(interrupt["id"])] = interrupt.get("value")
    return found


class LangGraphApiEngine:
    """`langgraph dev`: the SDK's in-process client, bound to the running `langgraph_api.server`."""

    name = "langgraph_api"

    async def _ask[T](self, request: Callable[[LangGraphClient], Awaitable[T]], missing: frozenset[int] = frozenset({404})) -> T | None:
        """`request` on the in-process client, opened and closed around it; None when the server answers a `missing` status."""
        from langgraph_sdk import get_client  # noqa: PLC0415 - binds to the running server's app

        client = get_client(url=None)
        try:
            return await request(client)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in missing:
                return None
            raise
        finally:
            await client.aclose()

    async def _get(self, thread_id: str) -> Mapping[str, Any] | None:
        return await self._ask(lambda client: client.threads.get(thread_id))

    async def read_thread(self, thread_id: str) -> StoredThread | None:  # noqa: D102
        thread = await self._get(thread_id)
        if thread is None:
            return None
        metadata = thread.get("metadata") or {}
        owner = metadata.get(OWNER_KEY)
        return StoredThread(
            thread_id, str(owner) if owner else None, metadata, pending_interrupts(thread), timestamp(thread.get("updated_at"))
        )

    async def thread_exists(self, thread_id: str) -> bool:  # noqa: D102
        return await self._get(thread_id) is not None

    async def has_checkpoint(self, thread: StoredThread, checkpoint_id: str) -> bool:  # noqa: D102
        missing = frozenset({404, 422})  # 422: an id that is not a checkpoint id at all
        state = await self._ask(lambda client: client.threads.get_state(thread.thread_id, checkpoint_id=checkpoint_id), missing)
        return state is not None and saved_checkpoint(state.get("created_at"), state.get("metadata"))

    async def expired_thread_ids(self, user_id: str) -> list[str]:  # noqa: ARG002, D102 - its prune takes explicit ids only
        return []

    async def count_interrupted(self) -> int:  # noqa: D102
        return await self._ask(lambda client: client.threads.count(status="interrupted")) or 0

    async def store(self) -> BaseStore:  # noqa: D102
        from langgraph_api.store import get_store  # type: ignore[import-untyped]  # noqa: PLC0415 - only inside langgraph_api

        found: BaseStore = await get_store()
        return found


class AegraEngine:
    """Aegra: its database session and graph service, the ones its own routes use."""

    name = "aegra"

    async def _row(self, thread_id: str) -> Any:
        from aegra_api.core.orm import Thread, _get_session_maker  # noqa: PLC0415 - only inside Aegra
        from sqlalchemy import select  # noqa: PLC0415

        async with _get_session_maker()() as session:
            return await session.scalar(select(Thread).where(Thread.thread_id == thread_id))

    async def _state(self, thread_id: str, graph_id: object, checkpoint_id: str | None = None) -> Any:
        """The thread's state at `checkpoint_id` (else its latest), read through its graph; None before its first run."""
        if not isinstance(graph_id, str) or not graph_id:
            return None  # no run yet, so no checkpoint either
        from aegra_api.services.langgraph_service import get_langgraph_service  # noqa: PLC0415 - only inside Aegra

        configurable: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_id is not None:
            configurable |= {"checkpoint_ns": "", "checkpoint_id": checkpoint_id}
        config: dict[str, Any] = {"configurable": configurable}
        async with get_langgraph_service().get_graph(graph_id, config=config, access_context="threads.read") as graph:
            return await graph.aget_state(config)

    async def read_thread(self, thread_id: str) -> StoredThread | None:  # noqa: D102
        row = await self._row(thread_id)
        if row is None:
            return None
        metadata = dict(row.metadata_json or {})
        pending = pending_of(await self._state(thread_id, metadata.get("graph_id")))
        return StoredThread(thread_id, str(row.user_id) if row.user_id else None, metadata, pending, timestamp(row.updated_at))

    async def thread_exists(self, thread_id: str) -> bool:  # noqa: D102
        return await self._row(thread_id) is not None

    async def has_checkpoint(self, thread: StoredThread, checkpoint_id: str) -> bool:  # noqa: D102
        snapshot = await self._state(thread.thread_id, thread.metadata.get("graph_id"), checkpoint_id)
        return snapshot is not None and saved_checkpoint(getattr(snapshot, "created_at", None), getattr(snapshot, "metadata", None))

    async def expired_thread_ids(self, user_id: str) -> list[str]:
        """The user's threads whose TTL has run out: what Aegra's `POST /threads/prune` removes."""
        from aegra_api.core.orm import Thread, ThreadTTL, _get_session_maker  # noqa: PLC0415 - only inside Aegra
        from sqlalchemy import func, select  # noqa: PLC0415

        query = (
            select(ThreadTTL.thread_id)
            .join(Thread, Thread.thread_id == ThreadTTL.thread_id)
            .where(Thread.user_id == user_id, ThreadTTL.expires_at <= func.now())
        )
        async with _get_session_maker()() as session:
            return [str(thread_id) for thread_id in await session.scalars(query)]

    async def count_interrupted(self) -> int:  # noqa: D102
        from aegra_api.core.orm import Thread, _get_session_maker  # noqa: PLC0415 - only inside Aegra
        from sqlalchemy import func, select  # noqa: PLC0415

        query = select(func.count()).select_from(Thread).where(Thread.status == "interrupted")
        async with _get_session_maker()() as session:
            return int(await session.scalar(query) or 0)

    async def store(self) -> BaseStore:  # noqa: D102
        from aegra_api.core.database import db_manager  # noqa: PLC0415 - only inside Aegra

        found: BaseStore = db_manager.get_store()
        return found


def pending_of(snapshot: object) -> dict[str, Any]:
    """A graph state's pending interrupts by id (none for no state)."""
    interrupts = [*getattr(snapshot, "interrupts", ()), *(i for task in getattr(snapshot, "tasks", ()) for i in task.interrupts)]
    return {str(interrupt.id): interrupt.value for interrupt in interrupts if getattr(interrupt, "id", None)}


def saved_checkpoint(created_at: object, metadata: object) -> bool:
    """Whether a state read at a checkpoint id found a saved checkpoint.

    LangGraph answers a read at an id it has never saved with an empty state that
    echoes the requested id back in its config, so the id alone proves nothing:
    only a saved checkpoint has a creation time and metadata.
    """
    return created_at is not None and metadata is not None


def serving_engine() -> Engine:
    """The server running this process, from the modules it loaded (Aegra first: it never loads langgraph_api's server)."""
    if AEGRA_MODULE in sys.modules:
        return AegraEngine()
    if LANGGRAPH_API_MODULE in sys.modules:
        return LangGraphApiEngine()
    msg = f"no LangGraph server runs in this process (neither {AEGRA_MODULE} nor {LANGGRAPH_API_MODULE} is loaded)"
    raise EngineUnavailableError(msg)


async def store() -> BaseStore:
    """The serving engine's LangGraph store, as its graphs see it (every namespace: callers keep to their own)."""
    return await serving_engine().store()


async def count_interrupted() -> int:
    """Threads of every user paused on an interrupt, as the serving engine stores them."""
    return await serving_engine().count_interrupted()


async def read_thread(thread_id: str) -> StoredThread | None:
    """The thread as the serving engine stores it (None when there is none); ownership is the caller's to check."""
    return await serving_engine().read_thread(thread_id)


ThreadReader = Callable[[str], Awaitable[StoredThread | None]]
"""`read_thread`, or a stand-in for it (one request's memo, a test's reader)."""


def read_once() -> ThreadReader:
    """A `read_thread` that asks the engine once per thread id: for the checks of one request that each need the thread.

    On `langgraph dev` a read is a whole request into the server itself (every
    middleware, the auth handler, the store); a resume's check and its audit
    would otherwise read the same thread twice for every approval.
    """
    seen: dict[str, StoredThread | None] = {}

    async def read(thread_id: str) -> StoredThread | None:
        if thread_id not in seen:
            seen[thread_id] = await read_thread(thread_id)
        return seen[thread_id]

    return read


async def thread_exists(thread_id: str) -> bool:
    """Whether the serving engine has the thread; raises when it cannot tell."""
    return await serving_engine().thread_exists(thread_id)


async def has_checkpoint(thread: StoredThread, checkpoint_id: str) -> bool:
    """Whether the serving engine has that checkpoint in the history of `thread` (as `read_thread` just read it)."""
    return await serving_engine().has_checkpoint(thread, checkpoint_id)


async def thread_exists_or_unknown(thread_id: str) -> bool | None:
    """`thread_exists`, or None (logged) when the engine cannot tell: callers removing storage then remove nothing."""
    try:
        return await thread_exists(thread_id)
    except Exception:
        logger.exception("Could not ask whether thread %s exists", thread_id)
        return None


async def expired_thread_ids(user_id: str) -> list[str]:
    """The user's threads a prune without ids would remove now (none on `langgraph dev`)."""
    return await serving_engine().expired_thread_ids(user_id)
