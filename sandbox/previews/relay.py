"""The relay that runs inside a sandbox: one unix socket in `/run/previews` to one port of the container's loopback.

Run as the sandbox user with the image's own `python3` (stdlib only; its
source is passed to `python3 -I -c`, nothing is installed in the image):
`python3 -I -c <source> <port> /run/previews/<port>.sock`. Each connection
accepted on the socket is piped to `127.0.0.1:<port>` (or `::1`), the only
destination it ever connects to, fixed when it starts. The container has no
network interface but `lo`, so even a replaced relay reaches nothing outside it.

The socket is bound under a temporary name and renamed into place, so a second
relay for the same port replaces the first, which notices and exits. It is
private to its owner (0600): the server connects as root or as the same uid.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading

MAX_CONNECTIONS = 32
"""Connections piped at once: each holds two threads, which count against the container's pids limit."""
CHECK_SECONDS = 5.0
"""How often an idle relay checks that its socket is still the one at its path."""
PIECE = 64 * 1024


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy until `source` ends, then end `target`'s writing side."""
    try:
        while piece := source.recv(PIECE):
            target.sendall(piece)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def _upstream(port: int) -> socket.socket | None:
    """A connection to the port on the container's own loopback, IPv4 first; None when nothing listens."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        conn = socket.socket(family, socket.SOCK_STREAM)
        try:
            conn.connect((host, port))
        except OSError:
            conn.close()
            continue
        return conn
    return None


def _serve(client: socket.socket, port: int, slots: threading.BoundedSemaphore) -> None:
    try:
        upstream = _upstream(port)
        if upstream is None:
            return
        with upstream:
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join()
    finally:
        client.close()
        slots.release()


def _bind(path: str) -> tuple[socket.socket, int]:
    """Listen at `path`, replacing whatever socket is there in one step; the socket and its inode."""
    temporary = f"{path}.{os.getpid()}.tmp"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(temporary)
    finally:
        os.umask(old_mask)
    listener.listen(64)  # before the rename: a socket at the name always accepts
    os.rename(temporary, path)
    return listener, os.stat(path).st_ino


def _still_mine(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def main(argv: list[str]) -> int:
    """Relay `argv[1]` (a port) at `argv[2]` (a socket path) until the socket is replaced or removed."""
    port, path = int(argv[1]), argv[2]
    if not 1 <= port <= 65535:
        return 2
    listener, inode = _bind(path)
    listener.settimeout(CHECK_SECONDS)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    while _still_mine(path, inode):
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        client.settimeout(None)
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(target=_serve, args=(client, port, slots), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
