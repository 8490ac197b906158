"""The server's side of a preview: reach the relay socket of (thread, port), starting the relay when there is none.

The socket file lives in a folder the sandbox writes to, so its name cannot be
trusted to lead to a socket the sandbox made: a link named `8000.sock` could
point at the Docker socket. `open_socket` opens the name itself (`O_PATH |
O_NOFOLLOW`, inside the thread's folder opened the same way), checks that it is a
socket, and the server connects through `/proc/self/fd/<fd>`, which is that very
inode: no link is followed and nothing can be swapped in between.

`PreviewRelays` starts a relay (`sandbox.previews.relay`) in the thread's
running container where the port listens, with a detached `docker exec` as the
sandbox user. A thread may have several containers at once (in ephemeral mode
each background process has its own, beside the commands' short-lived ones),
each with its own loopback, and a relay reaches only its own: so the candidates'
`/proc/net/tcp` and `/proc/net/tcp6` are read, and the relay goes where a socket
listens on the port. A preview never starts a container: an app can only listen
in one that runs. All of it blocks (Docker, the file system): callers run it off
the event loop.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from docker.errors import APIError, NotFound

from sandbox.containers.container_spec import LABEL_MODE, label_filter, labels_for, sandbox_environment
from sandbox.containers.deployment import SandboxDeployment
from sandbox.previews import relay
from sandbox.previews.folders import PREVIEWS_MOUNT, previews_path, socket_name
from sandbox.runs.errors import SandboxError

START_WAIT_SECONDS = 10.0
"""How long a started relay may take to put its socket in place."""
LISTEN_STATE = "0A"
"""`TCP_LISTEN` as `/proc/net/tcp` writes a socket's state."""
SOCKET_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
"""The container's own TCP sockets, IPv4 and IPv6 (its network namespace: loopback only)."""


def relay_source() -> str:
    """The relay's source, handed to the image's `python3 -I -c`: nothing is installed in the image."""
    return Path(relay.__file__).read_text(encoding="utf-8")


class PreviewUnavailableError(SandboxError):
    """No relay can be reached for this (thread, port); the message says why, for the person opening the link."""


class NothingListensError(PreviewUnavailableError):
    """The thread's sandbox runs, but nothing in it listens on the port."""

    def __init__(self, port: int) -> None:
        super().__init__(f"Nothing answers on port {port} in this thread's sandbox: is the app running and listening there?")


def socket_address(fd: int) -> str:
    """The address that connects to exactly the inode `fd` holds (see the module docstring)."""
    return f"/proc/self/fd/{fd}"


def listening_ports(tables: str) -> set[int]:
    """The ports that sockets listen on in `/proc/net/tcp`-format text (one table or several, headers included)."""
    ports: set[int] = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN_STATE or ":" not in fields[1]:
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return ports


def open_socket(folder: Path, port: int) -> int | None:
    """An `O_PATH` fd of `<folder>/<port>.sock` if it is a socket (never through a link); None when there is none.

    Raises `PreviewUnavailableError` for anything else at that name: a link, a file, a folder.
    """
    try:
        dir_fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"the thread's preview folder cannot be opened ({exc.strerror})"
        raise PreviewUnavailableError(msg) from None
    try:
        fd = os.open(socket_name(port), os.O_PATH | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)
    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
        os.close(fd)
        msg = f"{PREVIEWS_MOUNT}/{socket_name(port)} in the sandbox is not a relay socket"
        raise PreviewUnavailableError(msg)
    return fd


class PreviewRelays:
    """Starts relays in threads' running containers; one per server process (`server.preview_routes`)."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.deployment = deployment
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def folder(self, thread_id: str) -> Path:
        """The thread's preview folder on the host."""
        return previews_path(self.deployment.settings, thread_id)

    def open_or_start(self, user_id: str, thread_id: str, port: int, *, restart: bool = False) -> int:
        """An fd of the relay socket of (thread, port), starting a relay first if there is none (or `restart`)."""
        with self._lock_for(thread_id, port):
            fd = open_socket(self.folder(thread_id), port)
            if fd is not None and not restart:
                return fd
            stale = None
            if fd is not None:
                stale = os.fstat(fd).st_ino
                os.close(fd)
            return self._start(user_id, thread_id, port, stale)

    def _lock_for(self, thread_id: str, port: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((thread_id, port), threading.Lock())

    def _container(self, user_id: str, thread_id: str, port: int) -> str:
        """The running container of the user's thread, with the preview folder mounted, where `port` listens.

        Several may run at once (session mode: the session container; ephemeral mode: one per background
        process, and commands' own); the session container is asked first, then the newest.
        """
        api = self.deployment.start()
        found: list[dict[str, Any]] = api.containers(
            filters=label_filter(labels_for(self.deployment.settings, thread_id=thread_id, user_id=user_id))
        )
        if not found:
            msg = "this thread's sandbox is not running, so nothing listens on that port: start the app again"
            raise PreviewUnavailableError(msg)
        mounted = [item for item in found if any(m.get("Destination") == PREVIEWS_MOUNT for m in item.get("Mounts") or [])]
        if not mounted:
            msg = "this thread's sandbox was started before previews existed; it gets them when it starts again"
            raise PreviewUnavailableError(msg)
        mounted.sort(key=lambda item: ((item.get("Labels") or {}).get(LABEL_MODE) != "session", -int(item.get("Created") or 0)))
        for item in mounted:
            if port in self._listening(str(item["Id"])):
                return str(item["Id"])
        raise NothingListensError(port)

    def _listening(self, container_id: str) -> set[int]:
        """The ports listening in the container (none if it went meanwhile), read as the sandbox user."""
        settings, api = self.deployment.settings, self.deployment.api
        try:
            exec_id = api.exec_create(container_id, ["cat", *SOCKET_TABLES], user=f"{settings.uid}:{settings.gid}", workdir="/tmp")
            out = api.exec_start(exec_id["Id"], demux=True)
        except (NotFound, APIError):
            return set()
        stdout = (out[0] if isinstance(out, tuple) else out) or b""
        return listening_ports(stdout.decode(errors="replace"))

    def _start(self, user_id: str, thread_id: str, port: int, stale: int | None) -> int:
        """Start a relay as the sandbox user, detached, and wait for its socket (not the `stale` inode); its fd."""
        container_id = self._container(user_id, thread_id, port)
        settings, api = self.deployment.settings, self.deployment.api
        command = ["python3", "-I", "-c", relay_source(), str(port), f"{PREVIEWS_MOUNT}/{socket_name(port)}"]
        exec_id = api.exec_create(
            container_id, command, user=f"{settings.uid}:{settings.gid}", environment=sandbox_environment(), workdir="/tmp"
        )
        api.exec_start(exec_id["Id"], detach=True)
        deadline = time.monotonic() + START_WAIT_SECONDS
        while time.monotonic() < deadline:
            fd = open_socket(self.folder(thread_id), port)
            if fd is not None and os.fstat(fd).st_ino != stale:
                return fd
            if fd is not None:
                os.close(fd)
            time.sleep(0.05)
        msg = "the preview relay did not start in the sandbox (does its image have python3?)"
        raise PreviewUnavailableError(msg)
