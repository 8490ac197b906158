"""Stops that keep `SANDBOX_MAX_CONTAINERS`, the soft cap on running session containers: when they run.

Victims are picked under the session start lock, where starts are counted, and
stopped in the background: a stop takes a second or more under load, too long
for every other new thread's first command to wait behind it.

A first command that creates a container adds one to what runs, so its stops are
submitted at once. One that takes a pooled container adds nothing: the pooled one
was running already, it only changes hands. Its stop is owed instead, and the pool
settles what is owed, from a new count, before it starts the replacement, once the
burst of first commands is over (`warm_pool.REFILL_DELAY`). A stop costs the
machine about 45 ms of CPU, half a turn of an unsandboxed agent, so during a burst
it would compete with the burst's commands, as creating the replacement would.

So sessions over the cap never outnumber the pooled containers handed out since the
last refill (at most `SANDBOX_POOL_SIZE` per process): a first command that finds the
pool empty creates a container, and then stops every idle container over the cap at
once, the owed ones included. The per-user cap is hard and never waits: its stops
finish before the start (`sessions`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from config.sandbox import SandboxSettings
from sandbox.containers.session_listing import RunningSession

logger = logging.getLogger(__name__)

StopUnused = Callable[[RunningSession], bool]
"""Stop a container unless a command runs in it anywhere; whether it was stopped."""
IdleLeastRecent = Callable[[list[RunningSession], int], list[RunningSession]]
"""Up to n of the containers no command runs in now, least recently used first."""


class RoomKeeper:
    """The stops for `SANDBOX_MAX_CONTAINERS` of one process: the ones in flight, and whether a pooled take owes some."""

    def __init__(self, settings: SandboxSettings, stop_unused: StopUnused, idle_least_recent: IdleLeastRecent) -> None:
        self._settings = settings
        self._stop_unused = stop_unused
        self._idle_least_recent = idle_least_recent
        self._lock = threading.Lock()
        self._stopping: set[str] = set()
        """Containers being stopped in the background (not counted meanwhile)."""
        self._owed = False
        """Whether a pooled take went over the cap since the pool last settled."""
        self._stops = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-room")

    def counted(self, running: list[RunningSession]) -> list[RunningSession]:
        """The containers of a new listing that count toward the cap: those not being stopped."""
        with self._lock:
            self._stopping &= {c.container_id for c in running}  # the rest have stopped
            stopping = set(self._stopping)
        return [c for c in running if c.container_id not in stopping]

    def after_start(self, others: list[RunningSession], *, took_pooled: bool) -> None:
        """Make room for the container just started beside `others` (counted, under the start lock).

        A pooled take only owes its stops (the pool settles them); a new container's are submitted now.
        """
        excess = len(others) + 1 - self._settings.max_containers
        if excess <= 0:
            return
        if took_pooled:
            with self._lock:
                self._owed = True
            return
        self._submit(self._idle_least_recent(others, excess))

    @property
    def owed(self) -> bool:
        """Whether pooled takes left containers over the cap running (`settle` stops them)."""
        with self._lock:
            return self._owed

    def settle(self, counted: list[RunningSession]) -> list[Future[None]]:
        """Pick the idle containers over the cap among `counted` (a new listing, under the start lock) and stop them; the stops."""
        with self._lock:
            self._owed = False
        return self._submit(self._idle_least_recent(counted, len(counted) - self._settings.max_containers))

    def _submit(self, victims: list[RunningSession]) -> list[Future[None]]:
        futures: list[Future[None]] = []
        for victim in victims:
            with self._lock:
                self._stopping.add(victim.container_id)
            try:
                futures.append(self._stops.submit(self._stop, victim))
            except RuntimeError:  # closed: nothing runs in the background any more
                self._stop(victim)
        return futures

    def _stop(self, container: RunningSession) -> None:
        """Stop `container` unless a command started in it since it was picked."""
        try:
            if self._stop_unused(container):
                return
        except Exception:  # the next start over the cap picks again
            logger.exception("Could not stop session sandbox %s to keep SANDBOX_MAX_CONTAINERS", container.container_id[:12])
        with self._lock:
            self._stopping.discard(container.container_id)  # still running: it counts again

    def close(self) -> None:
        """Let the stops already picked finish, and take no more (the deployment is closing)."""
        self._stops.shutdown(wait=True)
