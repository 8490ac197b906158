"""The command runner inside a session container: commands over a unix socket instead of a `docker exec` each.

A `docker exec` costs an API call, containerd and runc for every command; this
process is started once per container (as an exec of its own) and then spawns
each command itself, a fork and an exec away. It runs in the container as root
with nothing but CAP_SETUID and CAP_SETGID, which it needs to start commands as
the sandbox user; commands run as that other uid, so they cannot signal, trace
or read the memory or environment of this process.

Who may drive it, checked on every connection:
- the peer must be outside the container's pid namespace (the kernel reports
  its pid as 0 here): every process of the container itself, whatever its uid,
  is refused before a byte is read;
- the request must carry the per-container secret, which reaches this process
  alone, in the environment of its own exec (not the container's), and which it
  drops before any command starts.
The socket's directory is also root's and 0700 when the server runs as root, so
the sandbox user cannot even reach it.

Standard library only, and Python 3.9 or newer: it runs on the image's python3,
from a read-only bind mount of this file.

Protocol (host to runner): a 4-byte big-endian length and a JSON object
`{"secret": hex, "argv": [...]}` (or `"ping": true`). With `"capped_argv": [...]`
and `"cap": n` as well, the runner runs `capped_argv` instead, its stderr merged
into its stdout, and forwards at most n bytes of it: what `argv`'s sh wrapper
does with a pipeline into `head -c`, without its processes (a runner from before
these fields ignores them and runs `argv`). Runner to host: frames of a
kind byte and a 4-byte length: `S` started (pid), `O` stdout bytes, `E` stderr
bytes, `X` exit status (decimal, 128+signal for a signal, like Docker), `F` could
not start (reason), `P` pong.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing.TypeGuard is Python 3.10; the image's python3 may be 3.9
    from typing import TypeGuard

SOCKET_NAME = "runner.sock"
LOCK_NAME = "runner.lock"
SECRET_ENV = "SANDBOX_RUNNER_SECRET"  # noqa: S105 - the variable's name, not a secret
FRAME = struct.Struct("!cI")
LENGTH = struct.Struct("!I")
PEERCRED = struct.Struct("3i")
MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Bigger than any argv `execve` takes (one argument is at most 128 KiB), so a real command always fits."""
HANDSHAKE_SECONDS = 5.0
CHUNK_BYTES = 64 * 1024
TAKEOVER_SECONDS = 5.0
TRAMPOLINE = 'cd "$0" && unset OLDPWD && exec "$@"'
"""Runs the command in the working directory (as `docker exec -w` would, so no OLDPWD) after the uid
changed: root without CAP_DAC_READ_SEARCH may not enter the sandbox user's 0700 workspace, which
`Popen(cwd=)` would do before dropping to it."""


class Runner:
    """Accepts connections and runs each request's argv as the sandbox user, one thread per command."""

    def __init__(self, uid: int, gid: int, workdir: str, secret: bytes, env: dict[str, str]) -> None:
        self.uid = uid
        self.gid = gid
        self.workdir = workdir
        self.secret = secret
        self.env = env

    def serve_forever(self, server: socket.socket) -> None:
        """Accept until the container stops; each connection gets a thread of its own."""
        while True:
            conn, _ = server.accept()
            try:
                threading.Thread(target=self.serve, args=(conn,), daemon=True).start()
            except RuntimeError:  # no thread to be had (pids limit): the host falls back to docker exec
                conn.close()

    def serve(self, conn: socket.socket) -> None:
        """One connection: authenticate it, then a ping or one command."""
        with conn:
            request = self._authenticated_request(conn)
            if request is None:
                return
            if request.get("ping") is True:
                _send(conn, b"P", b"")
                return
            capped, cap = request.get("capped_argv"), request.get("cap")
            if _is_argv(capped) and isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
                self._run(conn, capped, cap=cap)
                return
            argv = request.get("argv")
            if not _is_argv(argv):
                _send(conn, b"F", b"bad request")
                return
            self._run(conn, argv)

    def _authenticated_request(self, conn: socket.socket) -> dict[str, object] | None:
        pid, _uid, _gid = PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size))
        if pid != 0:  # a process of this container: never served, never read
            return None
        conn.settimeout(HANDSHAKE_SECONDS)
        try:
            (length,) = LENGTH.unpack(_read_exactly(conn, LENGTH.size))
            if length > MAX_REQUEST_BYTES:
                return None
            request = json.loads(_read_exactly(conn, length))
        except (OSError, ValueError):
            return None
        if not isinstance(request, dict):
            return None
        offered = request.get("secret")
        if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), self.secret):
            return None
        conn.settimeout(None)
        return request

    def _run(self, conn: socket.socket, argv: list[str], *, cap: int | None = None) -> None:
        """Run `argv`, forwarding its output as it comes; with a `cap`, its stderr merged into at most `cap` bytes of stdout."""
        try:
            proc = subprocess.Popen(
                ["sh", "-c", TRAMPOLINE, self.workdir, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if cap is None else subprocess.STDOUT,
                user=self.uid,
                group=self.gid,
                extra_groups=[],
                env=self.env,
                start_new_session=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:  # ValueError: a NUL or unencodable text
            with contextlib.suppress(OSError):
                _send(conn, b"F", str(exc).encode()[:1000])
            return
        assert proc.stdout is not None  # PIPE was asked for
        pipes = {proc.stdout.fileno(): b"O"}
        if proc.stderr is not None:
            pipes[proc.stderr.fileno()] = b"E"
        try:
            _send(conn, b"S", str(proc.pid).encode())
            _pump(conn, pipes, cap=cap)
        except OSError:
            pass  # the host went away: closing our ends below stops a command that keeps writing
        finally:
            proc.stdout.close()  # past the cap too: like `head -c` exiting, a command that writes on gets SIGPIPE
            if proc.stderr is not None:
                proc.stderr.close()
        status = proc.wait()
        with contextlib.suppress(OSError):
            _send(conn, b"X", str(status if status >= 0 else 128 - status).encode())


def _pump(conn: socket.socket, kinds: dict[int, bytes], *, cap: int | None = None) -> None:
    """Forward the pipes to the host as they are written, until they end (or `cap` bytes are sent); a slow host slows the command."""
    sent = 0
    with selectors.DefaultSelector() as selector:
        for fd in kinds:
            selector.register(fd, selectors.EVENT_READ)
        open_fds = set(kinds)
        while open_fds:
            for key, _ in selector.select():
                fd = int(key.fd)
                data = os.read(fd, CHUNK_BYTES)
                if cap is not None:
                    data = data[: cap - sent]
                    sent += len(data)
                if data:
                    _send(conn, kinds[fd], data)
                if not data or (cap is not None and sent >= cap):
                    selector.unregister(fd)
                    open_fds.discard(fd)


def _is_argv(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(arg, str) for arg in value)


def _send(conn: socket.socket, kind: bytes, payload: bytes) -> None:
    conn.sendall(FRAME.pack(kind, len(payload)) + payload)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), CHUNK_BYTES))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return bytes(data)


def _take_lock(run_dir: str, *, replace: bool) -> int | None:
    """Hold the directory's lock for this process's life; None when another runner holds it.

    With `replace` (the host found the holder unresponsive) the holder is killed
    first, if it really is a runner: its pid is in the lock file.
    """
    fd = os.open(os.path.join(run_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + (TAKEOVER_SECONDS if replace else 0.0)
    killed = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            if not killed:
                _kill_holder(fd)
                killed = True
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _kill_holder(fd: int) -> None:
    try:
        pid = int(os.pread(fd, 32, 0) or b"0")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if os.path.basename(__file__).encode() not in handle.read():
                return  # the pid was reused by something else
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _listen(run_dir: str) -> socket.socket:
    path = os.path.join(run_dir, SOCKET_NAME)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)  # noqa: S103 - the folder decides who reaches it, and the server may not be root
    server.listen(64)
    return server


def main(argv: list[str]) -> int:
    """`command_runner.py UID GID RUN_DIR WORKDIR [--replace]`, secret in `SANDBOX_RUNNER_SECRET`."""
    uid, gid, run_dir, workdir = int(argv[1]), int(argv[2]), argv[3], argv[4]
    secret = os.environ.pop(SECRET_ENV, "").encode()
    if uid == 0 or not secret:
        print("command runner: needs a non-root uid and a secret", file=sys.stderr)
        return 2
    if _take_lock(run_dir, replace="--replace" in argv[5:]) is None:
        return 0  # another runner serves this container
    env = dict(os.environ)  # the exec's environment, as `docker exec` gives a command; no secret
    Runner(uid, gid, workdir, secret, env).serve_forever(_listen(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
