"""Session mode: one long-lived container per thread, shared by every server process.

A thread's session container is found from Docker's labels by any process (the
id cached here is a shortcut that the next exec checks); it is started under
one lock file every process using the engine takes
(`<workspaces>.locks/sessions/<engine>.lock`), which also makes counting for
`SANDBOX_MAX_CONTAINERS` and `SANDBOX_MAX_CONTAINERS_PER_USER` (from labels)
and starting one step, so two processes racing on a thread's first command
start one container. Several hosts with an engine each count per engine.
Whether a session container is in use, and its last use, is the thread's use
file (`sandbox.coordination.thread_use`): idle stops, the caps and a graceful
stop skip a container a command runs in, in whichever process.

`SessionContainers` is a part of `SandboxDeployment` (which inherits it), kept
apart because per-command (ephemeral) mode never touches any of it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Collection, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import (
    container_kwargs,
    host_folders,
    label_filter,
    labels_for,
    session_container_name,
)
from sandbox.containers.pool_claims import LABEL_POOL, Claimed, release
from sandbox.containers.room_keeper import RoomKeeper
from sandbox.containers.runner_socket import CommandRunners
from sandbox.containers.session_listing import RunningSession, SessionListing, list_running, list_thread, with_own
from sandbox.containers.start_lock import ListedAt, StartLock, thread_start_lock
from sandbox.coordination import thread_use
from sandbox.coordination.locks import digest, lock_subdir
from sandbox.coordination.process_lease import ProcessLease
from sandbox.disks.workspace import ThreadRef
from sandbox.metrics import events as metrics
from sandbox.runs.errors import UserCapError

if TYPE_CHECKING:
    from sandbox.containers.warm_pool import WarmPool

logger = logging.getLogger(__name__)

SESSION_KEEPALIVE = ("sleep", "infinity")


class SessionContainers:
    """Session mode's containers: find, start within the caps, stop when idle or on a graceful stop."""

    settings: SandboxSettings
    runners: CommandRunners
    _engine: str
    _api: docker.APIClient | None
    pool: WarmPool

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._sessions: dict[tuple[str, str], str] = {}
        """(thread id, user id) -> container id: a cache (Docker's labels are the truth); a container is only
        ever handed to the user it was made for."""
        self._sessions_lock = threading.Lock()
        self._room = RoomKeeper(
            self.settings,
            lambda container: self._stop_unused(container, reason="over SANDBOX_MAX_CONTAINERS"),
            self._idle_least_recent,
        )
        """The stops for `SANDBOX_MAX_CONTAINERS`, in the background (`sandbox.containers.room_keeper`)."""
        self._start_lock = StartLock()

    @abstractmethod
    def start(self) -> docker.APIClient:
        """Connect (once) and return the client."""

    @property
    @abstractmethod
    def api(self) -> docker.APIClient:
        """The connected client."""

    @property
    @abstractmethod
    def lease(self) -> ProcessLease:
        """The lease of this process on the workspaces folder."""

    @abstractmethod
    def ensure_image(self, image: str) -> None:
        """Check (and maybe pull) `image` before a container uses it."""

    @contextmanager
    def session_container(self, ref: ThreadRef) -> Iterator[str]:
        """Yield the running container of `ref`'s thread, starting or finding it as needed.

        While yielded the container is in use (`thread_use.using`), so no process's
        idle reaper, cap or graceful stop stops it under a running command.
        """
        self.start()
        with thread_use.using(self.settings, self._engine, ref.thread_id, self.lease.id):
            # A cached id is trusted without a round trip; if Docker stopped or removed
            # it behind our back (another process, an operator), the exec fails and
            # the runner calls `forget_session`, so the next attempt finds it again.
            container_id = self._sessions.get((ref.thread_id, ref.user_id))
            if not container_id:
                container_id = self._find_or_start(ref)
                with self._sessions_lock:
                    self._sessions[(ref.thread_id, ref.user_id)] = container_id
            yield container_id

    @contextmanager
    def in_use(self, thread_id: str) -> Iterator[None]:
        """Mark the thread's session container in use for the `with` block without a command (an MCP call into a server in it)."""
        with thread_use.using(self.settings, self._engine, thread_id, self.lease.id):
            yield

    def forget_session(self, thread_id: str, container_id: str) -> None:
        """Drop a cached container that turned out to be stopped or gone."""
        with self._sessions_lock:
            for key in [key for key, cached in self._sessions.items() if key[0] == thread_id and cached == container_id]:
                del self._sessions[key]

    def _running_sessions(self) -> list[RunningSession]:
        """Running session containers of this workspaces folder, pooled ones included once taken (owners from labels or claims)."""
        return self._running_listing().running()

    def _running_listing(self) -> SessionListing:
        return list_running(self.api, self.settings)

    def _start_lock_path(self) -> Path:
        return lock_subdir(self.settings, "sessions") / f"{digest(self._engine)[:16]}.lock"

    def _find_or_start(self, ref: ThreadRef) -> str:
        """The thread's running container, else start or create one within the caps.

        Counting running containers (from labels) and starting one is a single step
        under a lock shared by every server process, so no two processes both pass a
        cap. The thread's own start lock comes first (`sandbox.containers.start_lock`):
        two racing on the thread's first command start one container, and a pooled one
        gets its folders after the shared lock, before anyone is handed it.
        """
        with thread_start_lock(self.settings, ref.thread_id):
            own = SessionListing.of(list_thread(self.api, self.settings, ref.thread_id, everything=True), self.settings)
            if (found := own.running_for(ref.thread_id, ref.user_id)) is not None:
                if slot := own.slot_of(found):  # a take that died before its binds left the claim: bind them now
                    self.pool.reattach(slot, ref)
                return found
            self.pool.prepare(ref)  # the thread's disks are made before the lock every first command waits for
            gone: set[str] = set()
            while isinstance(started := self._start_in_turn(ref, own, gone), Claimed):
                if self.pool.hand_over(started, ref):
                    return started.container_id
                gone.add(started.container_id)  # drained or swept since it was listed: claim another
            return started

    def _start_in_turn(self, ref: ThreadRef, own: SessionListing, gone: Collection[str]) -> str | Claimed:
        """Under the session start lock: the running container found, started, or the pooled one claimed (not in `gone`)."""
        with self._start_lock.held(self._start_lock_path()) as turn:
            cap, wants_pool = self.settings.max_containers_per_user, self.pool.serves(ref)
            running = turn.running(lambda passed: not gone and passed.decides_alone(ref, cap, wants_pool=wants_pool), self._running_listing)
            listing = with_own(self.api, self.settings, running.listing, ref.thread_id, own)
            if (found := listing.running_for(ref.thread_id, ref.user_id)) is not None:
                turn.pass_on(running)
                return found  # another process started it meanwhile
            others = self._room.counted(self._fit_user_cap(listing.running(), ref))
            started = self._start_session(ref, listing, gone)
            container_id = started.container_id if isinstance(started, Claimed) else started
            self._room.after_start(others, took_pooled=isinstance(started, Claimed))
            if not own.items:  # a new thread: what runs changed by this start alone
                turn.pass_on(ListedAt(running.listing.with_started(container_id, ref.thread_id, ref.user_id), running.at))
            return started

    def _fit_user_cap(self, running: list[RunningSession], ref: ThreadRef) -> list[RunningSession]:
        """Stop the user's least recently used idle containers to fit their cap, or refuse; the running ones left.

        The per-user cap is hard, so its stops finish before the new container starts;
        the total's are the room keeper's, after the start.
        """
        cap = self.settings.max_containers_per_user
        users = [c for c in running if c.user_id == ref.user_id]
        stopped = self._stop_least_recent(users, len(users) + 1 - cap, reason="over SANDBOX_MAX_CONTAINERS_PER_USER")
        if len(users) - len(stopped) >= cap:
            msg = (
                f"user {ref.user_id!r} already has {cap} session sandbox(es) running, all busy "
                f"(SANDBOX_MAX_CONTAINERS_PER_USER={cap}); this command did not run. "
                "Wait for a command in another thread to finish, then try again."
            )
            metrics.refused("session_cap")
            raise UserCapError(msg)
        return [c for c in running if c.container_id not in stopped]

    def settle_room(self) -> None:
        """Stop the containers pooled takes left over `SANDBOX_MAX_CONTAINERS`, counted again under the start lock.

        The pool's refill calls it before it starts replacements.
        """
        if not self._room.owed:
            return
        with self._start_lock.held(self._start_lock_path()):
            stops = self._room.settle(self._room.counted(self._running_sessions()))
        futures.wait(stops)

    def _least_recent_first(self, candidates: list[RunningSession]) -> list[RunningSession]:
        """`candidates` ordered by their thread's last use, oldest (or never recorded) first."""
        return sorted(candidates, key=lambda c: thread_use.last_used(self.settings, self._engine, c.thread_id) or 0.0)

    def _idle_least_recent(self, candidates: list[RunningSession], count: int) -> list[RunningSession]:
        """Up to `count` of `candidates` no command runs in now, least recently used first."""
        picked: list[RunningSession] = []
        if count <= 0:
            return picked  # under the cap: no use file is read
        for container in self._least_recent_first(candidates):
            if len(picked) >= count:
                break
            with thread_use.unused(self.settings, self._engine, container.thread_id) as last:
                if last is not None:
                    picked.append(container)
        return picked

    def _stop_least_recent(self, candidates: list[RunningSession], excess: int, *, reason: str) -> set[str]:
        """Stop up to `excess` of `candidates` that are not in use, least recently used first; their ids."""
        stopped: set[str] = set()
        if excess <= 0:
            return stopped
        for container in self._least_recent_first(candidates):
            if len(stopped) >= excess:
                break
            if self._stop_unused(container, reason=reason):
                stopped.add(container.container_id)
        return stopped

    def _stop_unused(
        self, container: RunningSession, *, reason: str, idle_before: float | None = None, last_user: str | None = None
    ) -> bool:
        """Stop `container` unless a command runs in it anywhere; whether it was stopped.

        With `idle_before`, only if unused since then; with `last_user`, only if that process used it last.
        """
        with thread_use.unused(self.settings, self._engine, container.thread_id) as last:
            if last is None or (idle_before is not None and last.at > idle_before) or (last_user is not None and last.by != last_user):
                return False
            logger.info("Stopping session sandbox %s of thread %s (%s)", container.container_id[:12], container.thread_id, reason)
            with contextlib.suppress(NotFound):
                self.api.stop(container.container_id, timeout=1)
            self.forget_session(container.thread_id, container.container_id)
            return True

    def _start_session(self, ref: ThreadRef, listing: SessionListing, gone: Collection[str]) -> str | Claimed:
        """Start this thread's stopped container (even one from before a restart), else claim a pooled one, else create it.

        `listing` is the one taken under the session start lock; pooled containers in `gone` are not claimed again.
        """
        thread_id, image = ref.thread_id, ref.image
        api = self.api
        found = self._without_foreign(listing.of_thread(thread_id), ref)
        if found:
            container_id = found[0]["Id"]
            for duplicate in found[1:]:
                self._remove_session(duplicate)
            slot = (found[0].get("Labels") or {}).get(LABEL_POOL)
            if slot:
                self.pool.reattach(slot, ref)
        elif (claimed := self.pool.claim_one(ref, listing.untaken_pool(), skip=gone)) is not None:
            return claimed
        else:
            self.ensure_image(image)
            kwargs = container_kwargs(
                self.settings,
                api=api,
                thread_id=thread_id,
                user_id=ref.user_id,
                mode="session",
                image=image,
                command=list(SESSION_KEEPALIVE),
                name=session_container_name(self.settings, thread_id),
            )
            try:
                container_id = api.create_container(**kwargs)["Id"]
            except APIError as exc:
                if exc.status_code != 409:  # 409: the name is taken (a server without the start lock)
                    raise
                container_id = api.inspect_container(kwargs["name"])["Id"]
        container_id = str(container_id)
        host_folders(self.settings, thread_id, ref.user_id)  # a stopped container's disks may be unmounted
        api.start(container_id)
        if self.settings.command_runner:
            self.runners.container_started(api, container_id)  # a command that comes before it is up uses docker exec
        logger.info("Session sandbox for thread %s is %s", thread_id, container_id[:12])
        return container_id

    def _without_foreign(self, found: list[dict[str, Any]], ref: ThreadRef) -> list[dict[str, Any]]:
        """Remove containers of `ref`'s thread made for another user (a previous owner of a reused id); the rest.

        Such a container mounts the previous owner's `/memories`, so it is never
        handed to anyone: it is removed before the new owner's container is made.
        """
        kept: list[dict[str, Any]] = []
        for item in found:
            if RunningSession.of(item, self.settings).user_id == ref.user_id:
                kept.append(item)
                continue
            logger.warning("Thread id %s is used again by another user: removing the previous owner's container", ref.thread_id)
            self._remove_session(item)
        return kept

    def _remove_session(self, item: dict[str, Any]) -> None:
        """Remove a session container; a pooled one's folders are unbound and its claim dropped after it."""
        with contextlib.suppress(NotFound):
            self.api.remove_container(item["Id"], force=True)
        slot = (item.get("Labels") or {}).get(LABEL_POOL)
        if slot:
            release(self.settings, slot)

    def restart_session(self, container_id: str) -> None:
        """Last resort when a command outlived even the in-container timeout."""
        self.api.restart(container_id, timeout=1)

    def reap_idle(self, now: float | None = None) -> list[str]:
        """Stop containers unused for `SANDBOX_IDLE_TTL` seconds (`now`: seconds since the epoch); their thread ids.

        Every running session container counts, whichever process used it. One
        without a recorded use starts its idle clock now.
        """
        now = time.time() if now is None else now
        idle_before = now - self.settings.idle_ttl_seconds
        stopped = []
        for container in self._running_sessions():
            used = thread_use.last_used(self.settings, self._engine, container.thread_id)
            if used is not None and used > idle_before:
                continue
            if self._stop_unused(container, reason="idle", idle_before=idle_before):
                stopped.append(container.thread_id)
        return stopped

    def running_session_threads(self) -> list[str]:
        """Thread ids whose session container is running, from Docker's labels (tests and stats)."""
        return sorted(c.thread_id for c in self._running_sessions())

    def forget_thread(self, thread_id: str) -> None:
        """Drop a deleted thread's cached container (it is being removed)."""
        with self._sessions_lock:
            for key in [key for key in self._sessions if key[0] == thread_id]:
                del self._sessions[key]

    def stop_sessions(self, keep: Collection[str] = ()) -> list[str]:
        """A graceful server stop: stop the session containers this process used last; their thread ids.

        A container another live process used since, or one a command still runs
        in, is left to that process (and to the idle reaper of every process); so
        are the containers of the threads in `keep`.
        Stopped, not removed: a thread's next command starts its container again,
        and `SANDBOX_RETENTION` removes containers that stay stopped.
        """
        if self._api is None:
            return []
        me, stopped = self.lease.id, []
        for container in self._running_sessions():
            if container.thread_id in keep:
                continue
            try:
                if self._stop_unused(container, reason="server stopping", last_user=me):
                    stopped.append(container.thread_id)
            except APIError:
                logger.exception("Could not stop session sandbox %s", container.container_id[:12])
        return stopped

    def stop_room_keeper(self) -> None:
        """Let the stops already picked finish, and take no more (the deployment is closing)."""
        self._room.close()

    def remove_sessions(self) -> None:
        """Remove this scope's session containers, running or not (tests, benchmarks)."""
        if self._api is None:
            return
        filters = label_filter(labels_for(self.settings, mode="session"))
        for container in self._api.containers(all=True, filters=filters):
            self._remove_session(container)
        with self._sessions_lock:
            self._sessions.clear()
