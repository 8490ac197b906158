"""What Docker's labels and the pool's claims say about this scope's session containers.

A session container's thread and user are its labels, or, for a pooled one, its
claim (`sandbox.containers.pool_claims.identity`); an untaken pooled container is
nobody's. Every reader that counts or finds session containers reads them through
one listing here, so each pooled container's claim is read once per listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.sandbox import SandboxSettings
from sandbox.containers.pool_claims import LABEL_POOL, identity


@dataclass(frozen=True)
class RunningSession:
    """A running session container, as Docker's labels describe it."""

    thread_id: str
    container_id: str
    user_id: str
    slot: str = ""
    """A pooled container's slot (`sandbox.containers.pool_claims`): its thread and user come from its claim."""

    @classmethod
    def of(cls, item: dict[str, Any], settings: SandboxSettings) -> RunningSession:
        """From one item of Docker's container listing (its labels, and its claim if pooled)."""
        labels = item.get("Labels") or {}
        thread_id, user_id = identity(settings, labels)
        return cls(thread_id=thread_id, container_id=str(item["Id"]), user_id=user_id, slot=labels.get(LABEL_POOL, ""))


RUNNING_STATES = frozenset({"running", "paused", "restarting"})
"""States Docker's listing without `all` includes: what counts as running for the caps."""


@dataclass(frozen=True)
class SessionListing:
    """Docker's listing of this scope's session containers, each with its owner.

    A thread's first command decides everything from one such listing taken under the
    session start lock (the caps' count, the thread's stopped container, the pooled
    containers it may take): every running container, and the thread's own in any state.
    Each pooled container's claim is read once per listing.
    """

    items: list[tuple[dict[str, Any], RunningSession]]

    @classmethod
    def of(cls, items: list[dict[str, Any]], settings: SandboxSettings) -> SessionListing:
        """From Docker's container listing."""
        return cls([(item, RunningSession.of(item, settings)) for item in items])

    def running(self) -> list[RunningSession]:
        """Running containers someone owns (an untaken pooled one is nobody's, so it never counts)."""
        return [owner for item, owner in self.items if owner.thread_id and item.get("State") in RUNNING_STATES]

    def running_for(self, thread_id: str, user_id: str) -> str | None:
        """The id of the thread's running container made for `user_id`, if the listing holds one."""
        for owner in self.running():
            if owner.thread_id == thread_id and owner.user_id == user_id:
                return owner.container_id
        return None

    def of_thread(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's containers in any state, whoever they were made for."""
        return [item for item, owner in self.items if owner.thread_id == thread_id]

    def untaken_pool(self) -> list[dict[str, Any]]:
        """Running pooled containers nobody claimed (nor is draining)."""
        return [item for item, owner in self.items if owner.slot and not owner.thread_id and item.get("State") == "running"]
