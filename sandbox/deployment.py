"""Container lifecycle: connect, sweep leftovers, and keep per-thread session containers.

This is the "deployment" half of the sandbox (in SWE-ReX's terms); running a
command in a container is `sandbox.runner`, and file access is `sandbox.file_tools`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.container_spec import (
    LABEL_THREAD,
    container_kwargs,
    label_filter,
    labels_for,
    session_container_name,
)
from sandbox.docker_api import ImageGate, connect
from sandbox.errors import SandboxError, UserCapError
from sandbox.user_caps import user_lock
from sandbox.workspace import ThreadRef

logger = logging.getLogger(__name__)

SESSION_KEEPALIVE = ["sleep", "infinity"]


@dataclass
class _SessionEntry:
    container_id: str
    last_used: float
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SandboxDeployment:
    """Owns the Docker connection and every container this server starts.

    Built without touching Docker, so importing the graph never blocks or fails.
    `start()` is the one place that connects, sweeps what a crashed server left
    behind and (in session mode) starts the idle reaper; every operation that
    needs Docker calls it first, and only the first successful call does work.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.images = ImageGate()
        self._api: docker.APIClient | None = None
        self._connect_lock = threading.Lock()
        self._sessions: dict[str, _SessionEntry] = {}
        self._sessions_lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()
        _LIVE_DEPLOYMENTS.add(self)

    # -- connection and startup ------------------------------------------------

    def start(self) -> docker.APIClient:
        """Connect, sweep leftovers and start the reaper, once; return the connected client.

        Later calls only return the client. A failed connection raises
        `DockerUnavailableError` (or `RemoteDockerError`) and the next call tries
        again, so a server started before Docker recovers once Docker is up.
        """
        if self._api is not None:
            return self._api
        with self._connect_lock:
            if self._api is None:
                api = connect(self.settings.max_timeout_seconds)
                self._sweep_leftovers(api)
                self._api = api
                if self.settings.mode == "session":
                    self._start_reaper()
        return self._api

    @property
    def api(self) -> docker.APIClient:
        """The client `start()` connected; never connects by itself."""
        if self._api is None:
            msg = "SandboxDeployment.start() has not connected to Docker yet"
            raise SandboxError(msg)
        return self._api

    def _sweep_leftovers(self, api: docker.APIClient) -> None:
        """Remove ephemeral containers a crashed server left; adopt running session ones.

        Adopted session containers start their idle clock now, so the reaper stops
        them even if their thread never runs again.
        """
        filters = label_filter(labels_for(self.settings, mode="ephemeral"))
        for container in api.containers(all=True, filters=filters):
            logger.warning("Removing leftover sandbox container %s", container["Id"][:12])
            with contextlib.suppress(NotFound):
                api.remove_container(container["Id"], force=True)
        now = time.monotonic()
        for container in api.containers(filters=label_filter(labels_for(self.settings, mode="session"))):
            thread_id = container["Labels"].get(LABEL_THREAD, "")
            with self._sessions_lock:
                self._sessions.setdefault(thread_id, _SessionEntry(container_id=container["Id"], last_used=now))

    def ensure_image(self, image: str) -> None:
        """Check (and at most once pull) the image before creating a container from it."""
        self.images.ensure(self.start(), image)

    # -- session containers ------------------------------------------------------

    @contextmanager
    def session_container(self, ref: ThreadRef) -> Iterator[str]:
        """Yield the running container of `ref`'s thread, starting or finding it as needed.

        While yielded the container counts as in use, so neither the idle reaper
        nor the LRU cap stops it under a running command.
        """
        thread_id = ref.thread_id
        self.start()
        with self._sessions_lock:
            entry = self._sessions.get(thread_id)
            if entry is None:
                entry = self._sessions[thread_id] = _SessionEntry(container_id="", last_used=time.monotonic())
            entry.in_flight += 1
        try:
            with entry.lock:
                # A cached id is trusted without a round trip; if Docker stopped or
                # removed it behind our back, the exec fails and the runner calls
                # `forget_session`, so the next attempt finds or starts it again.
                if not entry.container_id:
                    self._make_room(exclude=thread_id)
                    entry.container_id = self._find_or_start(ref)
            yield entry.container_id
        finally:
            with self._sessions_lock:
                entry.in_flight -= 1
                entry.last_used = time.monotonic()

    def forget_session(self, thread_id: str, container_id: str) -> None:
        """Drop a cached container that turned out to be stopped or gone."""
        with self._sessions_lock:
            entry = self._sessions.get(thread_id)
            if entry is not None and entry.container_id == container_id:
                entry.container_id = ""

    def _find_or_start(self, ref: ThreadRef) -> str:
        """Reuse this thread's running container; else start or create one within the user's cap.

        Counting the user's running containers and starting one is a single step under
        a per-user lock shared by all server processes, so two cannot both pass the cap.
        """
        found = self.api.containers(filters=label_filter(labels_for(self.settings, thread_id=ref.thread_id, mode="session")))
        if found:
            return str(found[0]["Id"])
        with user_lock(self.settings, ref.user_id):
            self._enforce_user_cap(ref)
            return self._start_session(ref)

    def _enforce_user_cap(self, ref: ThreadRef) -> None:
        """Make room under `SANDBOX_MAX_CONTAINERS_PER_USER` by stopping the user's idle containers, or refuse."""
        cap = self.settings.max_containers_per_user
        mine = label_filter(labels_for(self.settings, mode="session", user_id=ref.user_id))
        running = [c["Labels"].get(LABEL_THREAD, "") for c in self.api.containers(filters=mine)]
        excess = len(running) + 1 - cap
        if excess <= 0:
            return
        with self._sessions_lock:
            idle = sorted((e.last_used, tid) for tid, e in self._sessions.items() if tid in running and e.container_id and not e.in_flight)
        for _, thread_id in idle[:excess]:
            self._stop(thread_id, reason="over SANDBOX_MAX_CONTAINERS_PER_USER")
        if len(self.api.containers(filters=mine)) >= cap:
            msg = (
                f"user {ref.user_id!r} already has {cap} session sandbox(es) running, all busy "
                f"(SANDBOX_MAX_CONTAINERS_PER_USER={cap}); this command did not run. "
                "Wait for a command in another thread to finish, then try again."
            )
            raise UserCapError(msg)

    def _start_session(self, ref: ThreadRef) -> str:
        """Start this thread's stopped container (even one from before a restart), else create it."""
        thread_id, image = ref.thread_id, ref.image
        api = self.api
        found = api.containers(all=True, filters=label_filter(labels_for(self.settings, thread_id=thread_id, mode="session")))
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
                if exc.status_code != 409:  # 409: another process created it first
                    raise
                container_id = api.inspect_container(kwargs["name"])["Id"]
        container_id = str(container_id)
        api.start(container_id)
        logger.info("Session sandbox for thread %s is %s", thread_id, container_id[:12])
        return container_id

    def restart_session(self, container_id: str) -> None:
        """Last resort when a command outlived even the in-container timeout."""
        self.api.restart(container_id, timeout=1)

    def _make_room(self, *, exclude: str) -> None:
        """Stop least recently used idle containers beyond `SANDBOX_MAX_CONTAINERS`."""
        with self._sessions_lock:
            running = [(tid, e) for tid, e in self._sessions.items() if e.container_id and tid != exclude]
        excess = len(running) + 1 - self.settings.max_containers
        if excess <= 0:
            return
        idle = sorted((e.last_used, tid) for tid, e in running if e.in_flight == 0)
        for _, thread_id in idle[:excess]:
            self._stop(thread_id, reason="over SANDBOX_MAX_CONTAINERS")

    def _stop(self, thread_id: str, *, reason: str) -> None:
        with self._sessions_lock:
            entry = self._sessions.get(thread_id)
            if entry is None or entry.in_flight or not entry.container_id:
                return
            container_id, entry.container_id = entry.container_id, ""
        logger.info("Stopping session sandbox %s of thread %s (%s)", container_id[:12], thread_id, reason)
        with contextlib.suppress(NotFound):
            self.api.stop(container_id, timeout=1)

    def reap_idle(self, now: float | None = None) -> list[str]:
        """Stop containers idle longer than `SANDBOX_IDLE_TTL`; return their thread ids."""
        now = time.monotonic() if now is None else now
        ttl = self.settings.idle_ttl_seconds
        with self._sessions_lock:
            idle = [tid for tid, e in self._sessions.items() if e.container_id and not e.in_flight and now - e.last_used >= ttl]
        for thread_id in idle:
            self._stop(thread_id, reason="idle")
        return idle

    def _start_reaper(self) -> None:
        interval = max(1.0, min(30.0, self.settings.idle_ttl_seconds / 4))

        def loop() -> None:
            while not self._closed.wait(interval):
                try:
                    self.reap_idle()
                except Exception:  # the reaper must outlive a Docker hiccup
                    logger.exception("Idle sandbox reaper failed; retrying")

        self._reaper = threading.Thread(target=loop, name="sandbox-reaper", daemon=True)
        self._reaper.start()

    def running_session_threads(self) -> list[str]:
        """Thread ids whose session container we believe is running (tests and stats)."""
        with self._sessions_lock:
            return sorted(tid for tid, e in self._sessions.items() if e.container_id)

    def forget_thread(self, thread_id: str) -> None:
        """Drop a deleted thread's session entry (its container is being removed)."""
        with self._sessions_lock:
            self._sessions.pop(thread_id, None)

    def stop_sessions(self) -> list[str]:
        """Stop every session container this process runs (a graceful server stop); their thread ids.

        Stopped, not removed: a thread's next command starts its container again, and
        `SANDBOX_RETENTION` removes containers that stay stopped.
        """
        with self._sessions_lock:
            running = [(tid, e.container_id) for tid, e in self._sessions.items() if e.container_id]
            for entry in self._sessions.values():
                entry.container_id = ""
        if not running or self._api is None:
            return []
        for thread_id, container_id in running:
            logger.info("Stopping session sandbox %s of thread %s (server stopping)", container_id[:12], thread_id)
            try:
                self._api.stop(container_id, timeout=1)
            except NotFound:
                continue
            except APIError:
                logger.exception("Could not stop session sandbox %s", container_id[:12])
        return [tid for tid, _ in running]

    def close(self, *, remove_sessions: bool = False) -> None:
        """Stop the reaper; optionally remove this scope's session containers (tests, benchmarks)."""
        self._closed.set()
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
    """Stop the session containers of every deployment in this process; their thread ids."""
    return [tid for deployment in list(_LIVE_DEPLOYMENTS) for tid in deployment.stop_sessions()]


def forget_thread_everywhere(thread_id: str) -> None:
    """Every deployment in this process drops its session entry for a deleted thread."""
    for deployment in list(_LIVE_DEPLOYMENTS):
        deployment.forget_thread(thread_id)
