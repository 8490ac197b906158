"""Another server process, for real: a spawned Python process with its own `SandboxDeployment`.

Tests drive it over a pipe (`call` returns a future, so several calls run at once,
as a server's runs do) and can end it the way a crash does (`kill`, SIGKILL).
It shares nothing with the test process but the workspaces folder, its lock
files and the Docker engine, which is exactly what separate server processes share.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.removal import remove_thread


def _execute(deployment: SandboxDeployment, thread_id: str, command: str, user_id: str) -> tuple[int | None, str]:
    result = DockerSandbox(thread_id, deployment, user_id=user_id).execute(command)
    return result.exit_code, result.output


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "start": lambda d: d.lease.id if d.start() else None,
    "execute": _execute,
    "reap_idle": lambda d, now: d.reap_idle(now=now),
    "stop_sessions": lambda d: d.stop_sessions(),
    "remove": lambda d, thread_id: remove_thread(d.start(), d.settings, thread_id),
}


def _serve(settings: SandboxSettings, conn: Connection) -> None:
    """The child's main loop: each request runs in a worker thread; answers go back tagged."""
    deployment = SandboxDeployment(settings)
    send_lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            tag, operation, args = conn.recv()
            if operation == "exit":
                break

            def run(tag: int = tag, operation: str = operation, args: tuple[Any, ...] = args) -> None:
                try:
                    answer: tuple[str, Any] = ("ok", _OPERATIONS[operation](deployment, *args))
                except Exception as exc:
                    answer = ("error", repr(exc))
                with send_lock:
                    conn.send((tag, answer))

            pool.submit(run)
    deployment.close()


class ServerProcess:
    """A running child server process; `call(operation, *args)` -> Future of its answer."""

    def __init__(self, settings: SandboxSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self.process = context.Process(target=_serve, args=(settings, child_conn), daemon=True)
        self.process.start()
        child_conn.close()
        self._futures: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                tag, (status, value) = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._futures.pop(tag)
            if status == "ok":
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"the server process failed: {value}"))
        with self._lock:
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:
            future.set_exception(RuntimeError("the server process is gone"))

    def call(self, operation: str, *args: Any) -> Future[Any]:
        """Ask the process to run `operation` (see `_OPERATIONS`); the answer arrives on the future."""
        future: Future[Any] = Future()
        with self._lock:
            tag = self._next = self._next + 1
            self._futures[tag] = future
            self._conn.send((tag, operation, args))
        return future

    def kill(self) -> None:
        """End it as a crash does: SIGKILL, no clean-up code runs."""
        if self.process.pid is not None and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(30)

    def close(self) -> None:
        """Ask it to exit; kill it if it does not."""
        if self.process.is_alive():
            try:
                with self._lock:
                    self._conn.send((0, "exit", ()))
            except OSError:
                pass
            self.process.join(30)
        self.kill()
        self._conn.close()
