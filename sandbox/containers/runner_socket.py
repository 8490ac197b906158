"""The host side of the in-container command runner: start it, send it a command, read the command's streams.

A session-mode command costs a `docker exec` (an API call, containerd, runc:
about 60 ms) without it; through the runner's socket it is a connect and a fork.
`sandbox.containers.runner` still does everything around the transport (deadline,
output caps, live output, exit codes), so both paths behave the same.

Nothing here may hang a command: connecting, the handshake and the runner's
"started" answer are bounded by `HANDSHAKE_SECONDS`; anything short of "started"
raises `RunnerUnavailable`, the command goes through `docker exec`, and the
runner is started again in the background (replacing one that did not answer).
Afterwards the stream is read like Docker's: the caller's deadline restarts the
container, which closes the socket.

The peer is checked too: the runner is root in its container, so a socket whose
owner is not root is a command's impostor, never sent the secret.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_RUNNER, WORKSPACE_MOUNT, label_filter, labels_for, sandbox_environment
from sandbox.containers.docker_api import container_runs
from sandbox.containers.runner_spec import (
    RUNNER_USER,
    SECRET_ENV,
    SOCKET_NAME,
    runner_argv,
    runner_folder,
    runner_secret,
    runners_root,
)

logger = logging.getLogger(__name__)

HANDSHAKE_SECONDS = 2.0
"""Longest wait for the runner to accept a command and say it started it; past it, `docker exec` runs it."""
START_WAIT_SECONDS = 5.0
"""How long a background start waits for the new runner to answer before calling the start failed."""
RETRY_AFTER_FAILED_START_SECONDS = 60.0
"""After a runner did not come up (no python3 in the image, say), its container uses `docker exec` this long."""
FOLDER_GRACE_SECONDS = 600.0
"""A runner folder without a container is removed once this old: a container is created just after its folder."""
_MAX_UNIX_PATH = 100
_FRAME = struct.Struct("!cI")
_LENGTH = struct.Struct("!I")
_PEERCRED = struct.Struct("3i")
_MAX_FRAME_BYTES = 1024 * 1024
_CACHED_CONTAINERS = 4096


class RunnerUnavailable(Exception):
    """The runner did not take the command; `replace` when it is there but did not answer in time."""

    def __init__(self, reason: str, *, replace: bool = False) -> None:
        super().__init__(reason)
        self.replace = replace


@dataclass(frozen=True)
class _Target:
    socket_path: str
    secret: str


class RunnerCommand:
    """One command running under the runner: its streams as Docker-style (stdout, stderr) frames, then its exit status."""

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self._conn = conn
        self.pid = pid
        """The command's pid inside the container."""
        self.exit_code: int | None = None
        """Set once the stream ended with the runner's exit frame; None if it ended otherwise."""

    def frames(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        """Output as it comes, until the exit frame or the connection's end (which then raises `OSError`)."""
        while True:
            kind, payload = _read_frame(self._conn)
            if kind == b"O":
                yield payload, None
            elif kind == b"E":
                yield None, payload
            elif kind == b"X":
                self.exit_code = int(payload)
                return
            else:
                msg = f"unexpected frame {kind!r} from the command runner"
                raise OSError(msg)

    def close(self) -> None:
        """Hang up (the runner then stops forwarding; a command still writing gets SIGPIPE)."""
        self._conn.close()


class CommandRunners:
    """The runners of one deployment's session containers: who they are, starting them, and talking to them.

    Holds only caches (a container's socket and secret, which are derived from its
    label and the server's key) and which starts are under way, so any number of
    server processes can share the same runners.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._targets: dict[str, _Target | None] = {}
        self._lock = threading.Lock()
        self._starting: set[str] = set()
        self._failed_at: dict[str, float] = {}
        self.served = 0
        """Commands the runners ran (tests and benchmarks read it)."""
        self.fell_back = 0
        """Commands that went through `docker exec` because a runner did not take them."""

    # -- commands -----------------------------------------------------------------

    def open(self, api: docker.APIClient, container_id: str, argv: list[str], capped: Mapping[str, object]) -> RunnerCommand:
        """Have `container_id`'s runner start `argv` (or `capped`'s, see `command_runner`).

        Raise `RunnerUnavailable`, and start the runner again, if it does not.
        """
        try:
            command = self._open(api, container_id, {"argv": argv, **capped})
        except RunnerUnavailable as exc:
            with self._lock:
                self.fell_back += 1
            logger.debug("Command runner of %s unavailable (%s); using docker exec", container_id[:12], exc)
            if str(exc) != "no runner":
                self.start_soon(api, container_id, replace=exc.replace)
            raise
        with self._lock:
            self.served += 1
        return command

    def _open(self, api: docker.APIClient, container_id: str, request: dict[str, object]) -> RunnerCommand:
        target = self._target(api, container_id)
        if target is None:
            raise RunnerUnavailable("no runner")
        conn = self._connect(target, request)
        try:
            kind, payload = _read_frame(conn)
        except TimeoutError:
            conn.close()
            raise RunnerUnavailable("no answer", replace=True) from None
        except OSError as exc:
            conn.close()
            raise RunnerUnavailable(f"hung up: {exc}") from None
        if kind != b"S":
            conn.close()
            raise RunnerUnavailable(f"could not start the command: {payload[:200]!r}")
        conn.settimeout(None)  # from here on the caller's deadline bounds the command
        return RunnerCommand(conn, int(payload))

    def ping(self, api: docker.APIClient, container_id: str) -> bool:
        """Whether `container_id`'s runner answers now."""
        target = self._target(api, container_id)
        if target is None:
            return False
        try:
            conn = self._connect(target, {"ping": True})
        except RunnerUnavailable:
            return False
        try:
            return _read_frame(conn)[0] == b"P"
        except OSError:
            return False
        finally:
            conn.close()

    def _connect(self, target: _Target, request: dict[str, object]) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(HANDSHAKE_SECONDS)
        try:
            connect_unix(conn, target.socket_path)
            _pid, uid, _gid = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            if uid != 0:
                logger.warning("A process of uid %d, not the runner, listens on %s; not using it", uid, target.socket_path)
                msg = "socket not owned by the runner"
                raise OSError(msg)
            body = json.dumps({**request, "secret": target.secret}).encode()
            conn.sendall(_LENGTH.pack(len(body)) + body)
        except TimeoutError:
            conn.close()
            raise RunnerUnavailable("connect timed out", replace=True) from None
        except OSError as exc:
            conn.close()
            raise RunnerUnavailable(f"cannot connect: {exc}") from None
        return conn

    def _target(self, api: docker.APIClient, container_id: str) -> _Target | None:
        """The socket and secret of `container_id`'s runner, or None for a container made without one."""
        if container_id in self._targets:
            return self._targets[container_id]
        try:
            labels = api.inspect_container(container_id).get("Config", {}).get("Labels") or {}
        except NotFound:
            return None
        token = labels.get(LABEL_RUNNER)
        target = None
        if token:
            path = runner_folder(self.settings, token).path / SOCKET_NAME
            target = _Target(socket_path=str(path), secret=runner_secret(self.settings, container_id))
        with self._lock:
            if len(self._targets) >= _CACHED_CONTAINERS:
                self._targets.clear()
            self._targets[container_id] = target
        return target

    # -- starting -----------------------------------------------------------------

    def container_started(self, api: docker.APIClient, container_id: str) -> None:
        """A session container (re)started: start its runner in the background, whatever an earlier start did."""
        self.forget(container_id)
        self.start_soon(api, container_id)

    def start_soon(self, api: docker.APIClient, container_id: str, *, replace: bool = False) -> None:
        """Start the runner in the background, unless a start is under way or one failed lately."""
        with self._lock:
            failed = self._failed_at.get(container_id)
            if container_id in self._starting or (failed is not None and time.monotonic() - failed < RETRY_AFTER_FAILED_START_SECONDS):
                return
            self._starting.add(container_id)
        threading.Thread(target=self._start, args=(api, container_id, replace), name="sandbox-runner-start", daemon=True).start()

    def _start(self, api: docker.APIClient, container_id: str, replace: bool) -> None:  # noqa: FBT001
        try:
            ready = self.start(api, container_id, replace=replace)
        except NotFound:
            ready = False
        except (APIError, docker.errors.DockerException, OSError):
            logger.warning("Could not start the command runner of %s", container_id[:12], exc_info=True)
            ready = False
        if not ready and not _still_runs(api, container_id):
            # Removed or stopped meanwhile (its thread deleted, an idle stop): nothing failed, and it may start again.
            logger.debug("Session sandbox %s stopped before its command runner came up", container_id[:12])
            with self._lock:
                self._starting.discard(container_id)
            self.forget(container_id)
            return
        with self._lock:
            self._starting.discard(container_id)
            if ready:
                self._failed_at.pop(container_id, None)
            else:
                self._failed_at[container_id] = time.monotonic()
        if not ready:
            logger.warning("The command runner of %s did not come up; its commands use docker exec", container_id[:12])

    def start(self, api: docker.APIClient, container_id: str, *, replace: bool = False) -> bool:
        """Start the runner (one root exec, detached) and wait until it answers; whether it does.

        A second runner in the same container finds the first holding the lock and
        exits; with `replace` it kills the first (which did not answer) and takes over.
        """
        if self._target(api, container_id) is None:
            return False
        environment = {**sandbox_environment(), SECRET_ENV: runner_secret(self.settings, container_id)}
        argv = runner_argv(self.settings, WORKSPACE_MOUNT, replace=replace)
        exec_id = api.exec_create(container_id, argv, user=RUNNER_USER, workdir="/", environment=environment, stdout=False, stderr=False)
        api.exec_start(exec_id["Id"], detach=True)
        deadline = time.monotonic() + START_WAIT_SECONDS
        while time.monotonic() < deadline:
            if self.ping(api, container_id):
                return True
            time.sleep(0.01)
        return False

    def forget(self, container_id: str) -> None:
        """Drop what is cached about a container (gone, or replaced)."""
        with self._lock:
            self._targets.pop(container_id, None)
            self._failed_at.pop(container_id, None)

    # -- clean-up -----------------------------------------------------------------

    def sweep_folders(self, api: docker.APIClient, *, grace_seconds: float = FOLDER_GRACE_SECONDS) -> list[str]:
        """Remove runner folders no container of this scope names any more (once older than the grace); their tokens."""
        root = runners_root(self.settings)
        if not root.is_dir():
            return []
        containers = api.containers(all=True, filters=label_filter(labels_for(self.settings)))
        used = {(item.get("Labels") or {}).get(LABEL_RUNNER) for item in containers}
        removed = []
        now = time.time()
        for entry in root.iterdir():
            if entry.name.startswith(".") or entry.name in used or not entry.is_dir(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < grace_seconds:
                continue
            for child in entry.iterdir():
                child.unlink(missing_ok=True)
            entry.rmdir()
            removed.append(entry.name)
        return removed


def _still_runs(api: docker.APIClient, container_id: str) -> bool:
    try:
        return container_runs(api, container_id)
    except (APIError, docker.errors.DockerException):
        return True  # Docker cannot say: report the start as failed


def connect_unix(conn: socket.socket, path: str) -> None:
    """Connect to a socket path longer than `sun_path` holds through its folder's descriptor."""
    if len(path.encode()) < _MAX_UNIX_PATH:
        conn.connect(path)
        return
    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    try:
        conn.connect(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            msg = "the command runner closed the connection"
            raise ConnectionResetError(msg)
        data += chunk
    return bytes(data)


def _read_frame(conn: socket.socket) -> tuple[bytes, bytes]:
    kind, length = _FRAME.unpack(_read_exactly(conn, _FRAME.size))
    if length > _MAX_FRAME_BYTES:
        msg = f"oversized frame from the command runner ({length} bytes)"
        raise OSError(msg)
    return kind, _read_exactly(conn, length)
