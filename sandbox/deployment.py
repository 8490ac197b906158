"""Container lifecycle: connect, sweep leftovers, and keep per-thread session containers.

This is the "deployment" half of the sandbox (in SWE-ReX's terms); running a
command in a container is `sandbox.runner`, and file access is `sandbox.file_tools`.

Any number of server processes, on one host or several, may share the Docker
engine and the workspaces folder, so nothing that matters lives in one process's
memory:
- a thread's session container is found from Docker's labels by any process (the
  id cached here is a shortcut that the next exec checks); it is started under
  one lock file every process using the engine takes
  (`<workspaces>.locks/sessions/<engine>.lock`), which also makes counting for
  `SANDBOX_MAX_CONTAINERS` and `SANDBOX_MAX_CONTAINERS_PER_USER` (from labels)
  and starting one step, so two processes racing on a thread's first command
  start one container. Several hosts with an engine each count per engine;
- whether a session container is in use, and its last use, is the thread's use
  file (`sandbox.thread_use`): idle stops, the caps and a graceful stop skip a
  container a command runs in, in whichever process;
- ephemeral containers carry their process's lease id (`sandbox.process_lease`);
  the sweep (at startup and every `SANDBOX_LEASE_TTL` seconds) removes those of
  dead processes, and any older than the longest command could run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox import thread_use
from sandbox.command_wrapper import host_deadline
from sandbox.container_spec import (
    LABEL_OWNER,
    LABEL_THREAD,
    LABEL_USER,
    container_kwargs,
    label_filter,
    labels_for,
    session_container_name,
)
from sandbox.docker_api import ImageGate, connect, engine_id
from sandbox.errors import SandboxError, UserCapError
from sandbox.fair_pool import FairPool
from sandbox.locks import digest, exclusive_file_lock, lock_subdir
from sandbox.process_lease import ProcessLease, owner_alive, process_lease, sweep_dead_leases
from sandbox.user_caps import running_cap_error
from sandbox.workspace import ThreadRef

logger = logging.getLogger(__name__)

SESSION_KEEPALIVE = ["sleep", "infinity"]

LEFTOVER_MARGIN_SECONDS = 60
"""An ephemeral container this much older than the longest command is a leftover, whoever made it."""

FILE_THREADS = 8
"""Threads for the host-side file tools and file routes: their calls are short, but a grep over a
large workspace or a big upload is not, and they must not wait behind commands or hold the server's own."""
FILE_SHARE = 4
"""Of `FILE_THREADS`, most one user's file calls hold at once; more wait for their own to finish."""


@dataclass(frozen=True)
class _Running:
    """A running session container, as Docker's labels describe it."""

    thread_id: str
    container_id: str
    user_id: str

    @classmethod
    def of(cls, item: dict[str, Any]) -> _Running:
        labels = item.get("Labels") or {}
        return cls(labels.get(LABEL_THREAD, ""), str(item["Id"]), labels.get(LABEL_USER, ""))


class SandboxDeployment:
    """Owns the Docker connection and the containers this server starts or shares.

    Built without touching Docker, so importing the graph never blocks or fails.
    `start()` is the one place that connects, takes this process's lease, sweeps
    what dead server processes left behind and starts the housekeeper (idle stops
    in session mode, periodic sweeps); every operation that needs Docker calls it
    first, and only the first successful call does work.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.images = ImageGate(settings.image, settings.allowed_images)
        self._api: docker.APIClient | None = None
        self._engine = ""
        """The engine's id (`start()`): use files and the start lock are per engine, as its containers are."""
        self._connect_lock = threading.Lock()
        self._sessions: dict[tuple[str, str], str] = {}
        """(thread id, user id) -> container id: a container is only ever handed to the user it was made for."""
        """Thread id -> its session container's id: a cache; Docker's labels are the truth."""
        self._sessions_lock = threading.Lock()
        self._housekeeper: threading.Thread | None = None
        self._closed = threading.Event()
        self.commands = FairPool(
            "sandbox-command",
            threads=settings.command_pool_threads,
            share=settings.max_running_per_user,
            refuse=lambda user, share: running_cap_error(settings, user, share),
        )
        """Where commands' Docker I/O runs (`sandbox.fair_pool`), never on the server's default executor."""
        self.file_work = FairPool("sandbox-files", threads=FILE_THREADS, share=FILE_SHARE)
        """Where the host-side file tools run, apart from commands and from the server's default executor."""
        _LIVE_DEPLOYMENTS.add(self)

    # -- connection and startup ------------------------------------------------

    def start(self) -> docker.APIClient:
        """Connect, take the lease, sweep leftovers and start the housekeeper, once; return the client.

        Later calls only return the client. A failed connection raises
        `DockerUnavailableError` (or `RemoteDockerError`) and the next call tries
        again, so a server started before Docker recovers once Docker is up.
        """
        if self._api is not None:
            return self._api
        with self._connect_lock:
            if self._api is None:
                api = connect(self.settings.max_timeout_seconds)
                self._engine = engine_id(api)
                process_lease(self.settings)  # before the sweep: it must count this process as alive
                self.sweep_leftovers(api)
                self._api = api
                self._start_housekeeper()
        return self._api

    @property
    def api(self) -> docker.APIClient:
        """The client `start()` connected; never connects by itself."""
        if self._api is None:
            msg = "SandboxDeployment.start() has not connected to Docker yet"
            raise SandboxError(msg)
        return self._api

    @property
    def lease(self) -> ProcessLease:
        """The lease of this process on the workspaces folder: its id labels the containers it runs."""
        return process_lease(self.settings)

    def sweep_leftovers(self, api: docker.APIClient | None = None) -> list[str]:
        """Remove ephemeral containers no live server process runs a command in; their ids.

        A container whose owner (label) is dead goes at once; one with an unknown
        owner (made before owners were labelled) or a live owner only once it is
        older than the longest command could run. Session containers are shared,
        never swept: the idle reaper stops them, retention removes them.
        """
        api = api or self.api
        give_up = host_deadline(self.settings.max_timeout_seconds) + LEFTOVER_MARGIN_SECONDS
        removed = []
        now = time.time()
        for container in api.containers(all=True, filters=label_filter(labels_for(self.settings, mode="ephemeral"))):
            age = now - float(container.get("Created") or 0)
            owner_lives = owner_alive(self.settings, (container.get("Labels") or {}).get(LABEL_OWNER, ""), age=age)
            if owner_lives is not False and age < give_up:
                continue  # its process may still be running the command
            why = "its server process is gone" if owner_lives is False else "older than any command may run"
            logger.warning("Removing leftover sandbox container %s: %s", container["Id"][:12], why)
            try:
                api.remove_container(container["Id"], force=True)
            except NotFound:
                continue
            except APIError:
                logger.warning("Could not remove leftover sandbox container %s", container["Id"][:12], exc_info=True)
                continue
            removed.append(str(container["Id"]))
        sweep_dead_leases(self.settings)
        return removed

    def ensure_image(self, image: str) -> None:
        """Refuse an image off the allow-list; check (and, for `SANDBOX_IMAGE` only, at most once pull) it before a container uses it."""
        self.images.ensure(self.start(), image)

    # -- session containers ------------------------------------------------------

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

    def forget_session(self, thread_id: str, container_id: str) -> None:
        """Drop a cached container that turned out to be stopped or gone."""
        with self._sessions_lock:
            for key in [key for key, cached in self._sessions.items() if key[0] == thread_id and cached == container_id]:
                del self._sessions[key]

    def _running_sessions(self, **labels: str) -> list[_Running]:
        """Running session containers of this workspaces folder (of one thread or user), from labels."""
        filters = label_filter(labels_for(self.settings, mode="session", **labels))
        return [_Running.of(item) for item in self.api.containers(filters=filters)]

    def _find_or_start(self, ref: ThreadRef) -> str:
        """The thread's running container, else start or create one within the caps.

        Counting running containers (from labels) and starting one is a single step
        under a lock shared by every server process, so no two processes both pass a
        cap, and two racing on the thread's first command start one container.
        """
        found = self._running_sessions(thread_id=ref.thread_id, user_id=ref.user_id)
        if found:
            return found[0].container_id
        with exclusive_file_lock(lock_subdir(self.settings, "sessions") / f"{digest(self._engine)[:16]}.lock"):
            running = self._running_sessions()
            for container in running:
                if container.thread_id == ref.thread_id and container.user_id == ref.user_id:
                    return container.container_id  # another process started it meanwhile
            self._make_room(running, ref)
            return self._start_session(ref)

    def _make_room(self, running: list[_Running], ref: ThreadRef) -> None:
        """Stop least recently used idle containers to fit the user's cap, then the total; refuse past the user's."""
        cap = self.settings.max_containers_per_user
        users = [c for c in running if c.user_id == ref.user_id]
        stopped = self._stop_least_recent(users, len(users) + 1 - cap, reason="over SANDBOX_MAX_CONTAINERS_PER_USER")
        if len(users) - len(stopped) >= cap:
            msg = (
                f"user {ref.user_id!r} already has {cap} session sandbox(es) running, all busy "
                f"(SANDBOX_MAX_CONTAINERS_PER_USER={cap}); this command did not run. "
                "Wait for a command in another thread to finish, then try again."
            )
            raise UserCapError(msg)
        others = [c for c in running if c.container_id not in stopped]
        # The total is a soft cap: when every container is busy, this one starts anyway.
        self._stop_least_recent(others, len(others) + 1 - self.settings.max_containers, reason="over SANDBOX_MAX_CONTAINERS")

    def _stop_least_recent(self, candidates: list[_Running], excess: int, *, reason: str) -> set[str]:
        """Stop up to `excess` of `candidates` that are not in use, least recently used first; their ids."""
        stopped: set[str] = set()
        if excess <= 0:
            return stopped
        for container in sorted(candidates, key=lambda c: thread_use.last_used(self.settings, self._engine, c.thread_id) or 0.0):
            if len(stopped) >= excess:
                break
            if self._stop_unused(container, reason=reason):
                stopped.add(container.container_id)
        return stopped

    def _stop_unused(self, container: _Running, *, reason: str, idle_before: float | None = None, last_user: str | None = None) -> bool:
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

    def _start_session(self, ref: ThreadRef) -> str:
        """Start this thread's stopped container (even one from before a restart), else create it."""
        thread_id, image = ref.thread_id, ref.image
        api = self.api
        found = api.containers(all=True, filters=label_filter(labels_for(self.settings, thread_id=thread_id, mode="session")))
        found = self._without_foreign(found, ref)
        if found:
            container_id = found[0]["Id"]
            for duplicate in found[1:]:
                api.remove_container(duplicate["Id"], force=True)
        else:
            self.ensure_image(image)
            kwargs = container_kwargs(
                self.settings,
                api=api,
                thread_id=thread_id,
                user_id=ref.user_id,
                mode="session",
                image=image,
                command=SESSION_KEEPALIVE,
                name=session_container_name(self.settings, thread_id),
            )
            try:
                container_id = api.create_container(**kwargs)["Id"]
            except APIError as exc:
                if exc.status_code != 409:  # 409: the name is taken (a server without the start lock)
                    raise
                container_id = api.inspect_container(kwargs["name"])["Id"]
        container_id = str(container_id)
        api.start(container_id)
        logger.info("Session sandbox for thread %s is %s", thread_id, container_id[:12])
        return container_id

    def _without_foreign(self, found: list[dict[str, Any]], ref: ThreadRef) -> list[dict[str, Any]]:
        """Remove containers of `ref`'s thread made for another user (a previous owner of a reused id); the rest.

        Such a container mounts the previous owner's `/memories`, so it is never
        handed to anyone: it is removed before the new owner's container is made.
        """
        kept: list[dict[str, Any]] = []
        for item in found:
            if _Running.of(item).user_id == ref.user_id:
                kept.append(item)
                continue
            logger.warning("Thread id %s is used again by another user: removing the previous owner's container", ref.thread_id)
            with contextlib.suppress(NotFound):
                self.api.remove_container(item["Id"], force=True)
        return kept

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

    def _start_housekeeper(self) -> None:
        """Idle stops (session mode) and periodic sweeps, in a daemon thread, until `close()`."""
        session = self.settings.mode == "session"
        sweep_every = self.settings.lease_ttl_seconds
        interval = max(1.0, min(30.0, sweep_every / 2, self.settings.idle_ttl_seconds / 4 if session else 30.0))

        def loop() -> None:
            last_sweep = time.monotonic()
            while not self._closed.wait(interval):
                try:
                    if session:
                        self.reap_idle()
                    if time.monotonic() - last_sweep >= sweep_every:
                        last_sweep = time.monotonic()
                        self.sweep_leftovers()
                except Exception:  # the housekeeper must outlive a Docker hiccup
                    logger.exception("Sandbox housekeeping failed; retrying")

        self._housekeeper = threading.Thread(target=loop, name="sandbox-housekeeper", daemon=True)
        self._housekeeper.start()

    def running_session_threads(self) -> list[str]:
        """Thread ids whose session container is running, from Docker's labels (tests and stats)."""
        return sorted(c.thread_id for c in self._running_sessions())

    def forget_thread(self, thread_id: str) -> None:
        """Drop a deleted thread's cached container (it is being removed)."""
        with self._sessions_lock:
            for key in [key for key in self._sessions if key[0] == thread_id]:
                del self._sessions[key]

    def stop_sessions(self) -> list[str]:
        """A graceful server stop: stop the session containers this process used last; their thread ids.

        A container another live process used since, or one a command still runs
        in, is left to that process (and to the idle reaper of every process).
        Stopped, not removed: a thread's next command starts its container again,
        and `SANDBOX_RETENTION` removes containers that stay stopped.
        """
        if self._api is None:
            return []
        me, stopped = self.lease.id, []
        for container in self._running_sessions():
            try:
                if self._stop_unused(container, reason="server stopping", last_user=me):
                    stopped.append(container.thread_id)
            except APIError:
                logger.exception("Could not stop session sandbox %s", container.container_id[:12])
        return stopped

    def close(self, *, remove_sessions: bool = False) -> None:
        """Stop the housekeeper and the pools; optionally remove this scope's session containers (tests, benchmarks)."""
        self._closed.set()
        self.commands.shutdown()
        self.file_work.shutdown()
        if remove_sessions and self._api is not None:
            filters = label_filter(labels_for(self.settings, mode="session"))
            for container in self._api.containers(all=True, filters=filters):
                try:
                    self._api.remove_container(container["Id"], force=True)
                except NotFound:
                    continue
            with self._sessions_lock:
                self._sessions.clear()


_LIVE_DEPLOYMENTS: weakref.WeakSet[SandboxDeployment] = weakref.WeakSet()
"""Every deployment of this process (the graph's, tests'), so the server can reach them on stop or delete."""


def stop_all_sessions() -> list[str]:
    """A graceful stop: every deployment in this process stops the session containers it used last; their thread ids."""
    return [tid for deployment in list(_LIVE_DEPLOYMENTS) for tid in deployment.stop_sessions()]


def forget_thread_everywhere(thread_id: str) -> None:
    """Every deployment in this process drops its cached container of a deleted thread (others find it gone)."""
    for deployment in list(_LIVE_DEPLOYMENTS):
        deployment.forget_thread(thread_id)
