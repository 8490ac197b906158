"""`SandboxDeployment`: the Docker connection and the containers this server starts or shares.

This is the "deployment" half of the sandbox; running a command in a container
is `sandbox.containers.runner`, and file access is `sandbox.files.file_tools`.
What each mode keeps is its own module: `sandbox.containers.sessions` (session
mode: one container per thread) and `sandbox.containers.ephemeral` (per-command
mode: the sweep of leftovers of dead processes).

Any number of server processes, on one host or several, may share the Docker
engine and the workspaces folder, so nothing that matters lives in one process's
memory: containers are found from Docker's labels, and what processes must agree
on is kept in lock files (`sandbox.coordination`, protocol in `docs/locks.md`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

import docker

from config.sandbox import SandboxSettings
from sandbox.containers.docker_api import ImageGate, connect, engine_id
from sandbox.containers.ephemeral import sweep_leftovers
from sandbox.containers.runner_socket import CommandRunners
from sandbox.containers.sessions import SessionContainers
from sandbox.containers.warm_pool import WarmPool, sweep_pool
from sandbox.coordination.fair_pool import FairPool
from sandbox.coordination.process_lease import ProcessLease, process_lease
from sandbox.coordination.process_state import sandbox_process
from sandbox.coordination.user_caps import running_cap_error
from sandbox.mcp.sessions import McpSessions
from sandbox.processes.manager import ProcessManager
from sandbox.runs.errors import SandboxError

logger = logging.getLogger(__name__)

FILE_THREADS = 8
"""Threads for the host-side file tools and file routes: their calls are short, but a grep over a
large workspace or a big upload is not, and they must not wait behind commands or hold the server's own."""
FILE_SHARE = 4
"""Of `FILE_THREADS`, most one user's file calls hold at once; more wait for their own to finish."""


class SandboxDeployment(SessionContainers):
    """Owns the Docker connection and the containers this server starts or shares.

    Built without touching Docker, so importing the graph never blocks or fails.
    `start()` is the one place that connects, takes this process's lease, sweeps
    what dead server processes left behind and starts the housekeeper (idle stops
    in session mode, periodic sweeps); every operation that needs Docker calls it
    first, and only the first successful call does work.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self.images = ImageGate(settings.image, settings.allowed_images)
        self._api: docker.APIClient | None = None
        self._engine = ""
        """The engine's id (`start()`): use files and the start lock are per engine, as its containers are."""
        self._connect_lock = threading.Lock()
        self._housekeeper: threading.Thread | None = None
        self._closed = threading.Event()
        self.commands = FairPool(
            "sandbox-command",
            threads=settings.command_pool_threads,
            share=settings.max_running_per_user,
            refuse=lambda user, share: running_cap_error(settings, user, share),
        )
        """Where commands' Docker I/O runs (`sandbox.coordination.fair_pool`), never on the server's default executor."""
        self.runners = CommandRunners(settings)
        """The command runners inside session containers (`sandbox.containers.runner_socket`)."""
        self.file_work = FairPool("sandbox-files", threads=FILE_THREADS, share=FILE_SHARE)
        """Where the host-side file tools run, apart from commands and from the server's default executor."""
        self.pool = WarmPool(
            settings,
            self.ensure_image,
            idle_seconds=lambda: min(self.commands.idle_seconds(), self.file_work.idle_seconds()),
            started=self.runners.container_started if settings.command_runner else None,
            answers=self.runners.ping if settings.command_runner else None,
            settle=self.settle_room,
        )
        """Session containers started ahead for new threads (`SANDBOX_POOL_SIZE`), filled once `start()` connects."""
        self.processes = ProcessManager(self)
        """The threads' background processes (`sandbox.processes`); the housekeeper stops idle ones."""
        self.mcp = McpSessions(self)
        """The threads' MCP server sessions (`sandbox.mcp`), ended with their thread and on shutdown."""
        sandbox_process().deployments.add(self)

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
                self.pool.start(api, self.lease.id)
        return self._api

    @property
    def api(self) -> docker.APIClient:
        """The client `start()` connected; never connects by itself."""
        if self._api is None:
            msg = "SandboxDeployment.start() has not connected to Docker yet"
            raise SandboxError(msg)
        return self._api

    @property
    def engine(self) -> str:
        """The connected engine's id (use files and locks are per engine); empty before `start()`."""
        return self._engine

    @property
    def lease(self) -> ProcessLease:
        """The lease of this process on the workspaces folder: its id labels the containers it runs."""
        return process_lease(self.settings)

    def sweep_leftovers(self, api: docker.APIClient | None = None) -> list[str]:
        """Remove ephemeral containers no live server process runs a command in; their ids (`ephemeral.sweep_leftovers`).

        Runner folders of containers that are gone go too (`CommandRunners.sweep_folders`), and
        pooled containers of dead processes (`warm_pool.sweep_pool`).
        """
        api = api or self.api
        sweep_pool(self.settings, api)
        self.runners.sweep_folders(api)
        return sweep_leftovers(self.settings, api)

    def ensure_image(self, image: str) -> None:
        """Refuse an image off the allow-list; check (and, for `SANDBOX_IMAGE` only, at most once pull) it before a container uses it."""
        self.images.ensure(self.start(), image)

    def _start_housekeeper(self) -> None:
        """Idle stops (session mode) and periodic sweeps, in a daemon thread, until `close()`."""
        session = self.settings.mode == "session"
        sweep_every = self.settings.lease_ttl_seconds
        interval = max(1.0, min(30.0, sweep_every / 2, self.settings.idle_ttl_seconds / 4 if session else 30.0))

        def loop() -> None:
            last_sweep = time.monotonic()
            while not self._closed.wait(interval):
                try:
                    self.processes.reap_idle()  # first: a look keeps a session container with a running process in use
                    if session:
                        self.reap_idle()
                    if time.monotonic() - last_sweep >= sweep_every:
                        last_sweep = time.monotonic()
                        self.sweep_leftovers()
                except Exception:  # the housekeeper must outlive a Docker hiccup
                    logger.exception("Sandbox housekeeping failed; retrying")

        self._housekeeper = threading.Thread(target=loop, name="sandbox-housekeeper", daemon=True)
        self._housekeeper.start()

    def stop_sessions(self, keep: Collection[str] = ()) -> list[str]:
        """A graceful stop, leaving the session containers where a background process still runs.

        The app the agent started outlives a server restart: its record is on disk,
        and the restarted server reattaches to it and to its preview.
        """
        return super().stop_sessions(keep={*keep, *self.processes.session_threads_running()})

    def close(self, *, remove_sessions: bool = False) -> None:
        """Stop the housekeeper and the pools; optionally remove this scope's session containers (tests, benchmarks)."""
        self._closed.set()
        self.pool.close()
        self.stop_room_keeper()
        self.commands.shutdown()
        self.file_work.shutdown()
        if remove_sessions:
            self.remove_sessions()


def stop_all_sessions() -> list[str]:
    """A graceful stop: every deployment in this process stops the session containers it used last; their thread ids."""
    return [tid for deployment in list(sandbox_process().deployments) for tid in deployment.stop_sessions()]


def drain_all_pools() -> None:
    """A graceful stop: every deployment in this process removes its untaken pooled containers."""
    for deployment in list(sandbox_process().deployments):
        deployment.pool.close()


def forget_thread_everywhere(thread_id: str) -> None:
    """Every deployment in this process drops its cached container of a deleted thread (others find it gone)."""
    for deployment in list(sandbox_process().deployments):
        deployment.forget_thread(thread_id)
