"""What Docker's labels and the pool's claims say about this scope's session containers.

A session container's thread and user are its labels, or, for a pooled one, its
claim (`sandbox.containers.pool_claims.identity`); an untaken pooled container is
nobody's. Every reader that counts or finds session containers reads them through
one listing here, so each pooled container's claim is read once per listing.
The listings a first command decides from are asked of Docker here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_THREAD, label_filter, labels_for
from sandbox.containers.pool_claims import LABEL_POOL, claimed_slots, identity
from sandbox.disks.workspace import ThreadRef


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

    def slot_of(self, container_id: str) -> str:
        """The pool slot of a listed container, or "" for one made for its thread."""
        return next((owner.slot for _, owner in self.items if owner.container_id == container_id), "")

    def of_thread(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's containers in any state, whoever they were made for."""
        return [item for item, owner in self.items if owner.thread_id == thread_id]

    def untaken_pool(self) -> list[dict[str, Any]]:
        """Running pooled containers nobody claimed (nor is draining)."""
        return [item for item, owner in self.items if owner.slot and not owner.thread_id and item.get("State") == "running"]

    def with_started(self, container_id: str, thread_id: str, user_id: str) -> SessionListing:
        """The listing once `container_id` started (or, pooled, was taken) for the thread: running, and theirs."""
        kept = [(item, owner) for item, owner in self.items if owner.container_id != container_id]
        slots = [owner.slot for _, owner in self.items if owner.container_id == container_id]
        started = RunningSession(thread_id=thread_id, container_id=container_id, user_id=user_id, slot=slots[0] if slots else "")
        return SessionListing([*kept, ({"Id": container_id, "State": "running"}, started)])

    def decides_alone(self, ref: ThreadRef, per_user_cap: int, *, wants_pool: bool) -> bool:
        """Whether a listing passed on under the start lock may decide a thread's first start without listing again.

        It may still hold containers that stopped or went since (`sandbox.containers.start_lock`):
        fine for the total, a soft cap whose stops are picked among idle containers anyway; but
        not for the thread itself (one removed since would be handed out again), nor for a user
        at their hard cap (an idle container of theirs would be stopped, or their command
        refused, on a count too high). A first command that wants a pooled container and finds
        none left in it lists again too, since the pool refills outside the lock.
        """
        running = self.running()
        if any(owner.thread_id == ref.thread_id for owner in running):
            return False
        users = sum(1 for owner in running if owner.user_id == ref.user_id)
        return users + 1 <= per_user_cap and (not wants_pool or bool(self.untaken_pool()))


def list_running(api: docker.APIClient, settings: SandboxSettings) -> SessionListing:
    """Every running session container of the scope, pooled ones included (owners from labels or claims)."""
    return SessionListing.of(api.containers(filters=label_filter(labels_for(settings, mode="session"))), settings)


def list_thread(api: docker.APIClient, settings: SandboxSettings, thread_id: str, *, everything: bool) -> list[dict[str, Any]]:
    """Docker's items of the thread's containers (running, or all), for any user, by label: every container's listing grows."""
    scope = labels_for(settings, mode="session")
    items: list[dict[str, Any]] = api.containers(all=everything, filters=label_filter({**scope, LABEL_THREAD: thread_id}))
    for slot in claimed_slots(settings, thread_id):
        items += api.containers(all=everything, filters=label_filter({**scope, LABEL_POOL: slot}))
    return items


def with_own(
    api: docker.APIClient, settings: SandboxSettings, running: SessionListing, thread_id: str, own: SessionListing
) -> SessionListing:
    """The running listing and the thread's own containers in any state: what a first command decides from.

    Other threads' stopped containers matter to neither the caps nor the pool (and pile up).
    `own` is the thread's listing from before the session start lock: when it was empty, it
    still is but for a container started since, which is running (starts happen under that
    lock) and listed.
    """
    listed = {owner.container_id for _, owner in running.items}
    mine = list_thread(api, settings, thread_id, everything=True) if own.items else []
    extra = [item for item in mine if str(item["Id"]) not in listed]
    return SessionListing([*running.items, *SessionListing.of(extra, settings).items])
