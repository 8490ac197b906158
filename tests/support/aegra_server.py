"""Start Aegra for end-to-end tests the way production does: through `deploy/aegra/serve.sh`.

`run_aegra()` mirrors `run_langgraph_dev()`: a context manager that runs

    bash deploy/aegra/serve.sh --host 127.0.0.1 --port <free port> --workers N
                               --data-dir <workdir>/aegra-data --config <workdir>/langgraph.json

in its own process group with the test's environment, waits until the script says
it is ready (`/info` answers on every worker), yields a `LangGraphServer` (base URL,
log), and on exit stops the script, which stops the server, PostgreSQL and Redis.
Then it checks that nothing is left running or mounted, and fails loudly if
something is (after removing it).

State: the script keeps PostgreSQL (and Redis) in `<workdir>/aegra-data`. A fresh
`workdir` is a fresh database; entering `run_aegra()` again with the same `workdir`
restarts the server on the same database (threads, checkpoints and pending approvals
survive), as a redeploy does. `DATABASE_URL` / `REDIS_URL` from the test process's
environment are not passed on; give them in `env` to use an existing server's
(`connection_env()` reads a running one's).

Like `run_langgraph_dev()`, the server serves a copy of the repository's
`langgraph.json` in `workdir` with repository-absolute paths (`isolated_config`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.support.langgraph_server import REPO_ROOT, LangGraphServer, free_port, isolated_config, serve, server_env

SERVE_SCRIPT = REPO_ROOT / "deploy" / "aegra" / "serve.sh"
"""The production-style command (docs/deployment.md)."""

READY_MARKER = "] ready: Aegra serves"
"""What serve.sh prints once `/info` answers on every worker."""

DATA_DIR_NAME = "aegra-data"
"""The script's data folder inside a test's `workdir`."""

CONNECTION_FILE = "connection.env"
"""Written by serve.sh in its data folder while its local PostgreSQL/Redis run."""

NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "AEGRA_CONFIG", "REDIS_BROKER_ENABLED", "RUN_MIGRATIONS_ON_STARTUP", "HOST", "PORT")
"""Aegra's settings a test server never takes from the test process's environment (blank unless `env` sets them)."""


class LeftBehindError(RuntimeError):
    """serve.sh stopped but left a process or a mount behind (now removed); the message says what."""


def data_dir(workdir: Path) -> Path:
    """The data folder (PostgreSQL, Redis, secrets, server log) of the Aegra started in `workdir`."""
    return workdir / DATA_DIR_NAME


def connection_env(workdir: Path) -> dict[str, str]:
    """`DATABASE_URL` / `REDIS_URL` of the local PostgreSQL/Redis that the running server in `workdir` uses."""
    text = (data_dir(workdir) / CONNECTION_FILE).read_text(encoding="utf-8")
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {name: value for name, value in pairs if value}


@contextlib.contextmanager
def start_aegra(
    *,
    workdir: Path,
    env: Mapping[str, str],
    port: int,
    workers: int,
    parent: Sequence[str] = (),
    startup_timeout: float = 600.0,
    stop_timeout: float = 150.0,
) -> Iterator[LangGraphServer]:
    """serve.sh as `run_aegra` runs it, without its check that nothing is left: for tests that end it their own way.

    `parent`, when given, is a command that runs serve.sh (appended to it) as its child,
    so that a test can kill the entry point's parent; the yielded process is then that parent.
    """
    with serve(
        "deploy/aegra/serve.sh",
        [*parent, *serve_command(workdir, port, workers)],
        cwd=REPO_ROOT,
        env=serve_env(env),
        workdir=workdir,
        port=port,
        ready_path="/info",
        ready_marker=READY_MARKER,
        startup_timeout=startup_timeout,
        stop_timeout=stop_timeout,
    ) as server:
        yield server


def serve_command(workdir: Path, port: int, workers: int) -> list[str]:
    """The serve.sh command line for a test server in `workdir` (which it creates, with its config copy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = isolated_config(REPO_ROOT / "langgraph.json", workdir)
    return [
        "bash",
        str(SERVE_SCRIPT),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--data-dir", str(data_dir(workdir)), "--config", str(config)),
    ]


def serve_env(env: Mapping[str, str]) -> dict[str, str]:
    """serve.sh's environment: this process's, without Aegra's settings (`NOT_INHERITED`), `env` on top."""
    return server_env({**dict.fromkeys(NOT_INHERITED, ""), **env})


@contextlib.contextmanager
def run_aegra(
    *,
    workdir: Path,
    env: Mapping[str, str],
    port: int | None = None,
    workers: int = 2,
    startup_timeout: float = 600.0,
    stop_timeout: float = 150.0,
) -> Iterator[LangGraphServer]:
    """Run Aegra with `workers` processes through serve.sh until the `with` block ends.

    Args:
        workdir: Private directory for the log (`server.log`), the config copy and the
            data folder (`aegra-data/`: PostgreSQL, and Redis when `workers` > 1).
        env: Variables set for the server on top of this process's environment
            (e.g. `ZHIPUAI_API_BASE`, `SANDBOX_WORKSPACES_DIR`, or `DATABASE_URL` /
            `REDIS_URL` to use an existing PostgreSQL/Redis instead of starting them).
        port: Port to bind on 127.0.0.1 (default: a free one).
        workers: Aegra server processes sharing the port (Redis is used when > 1).
        startup_timeout: Seconds to wait for the script's ready line.
        stop_timeout: Seconds between SIGTERM and SIGKILL of the script on exit
            (it gives the server up to 60 s to drain, then stops PostgreSQL and Redis).

    Raises:
        ServerStartError: The script exited or did not get ready in time.
        LeftBehindError: On exit, something the script started was still running or mounted.
    """
    port = port or free_port()
    try:
        with start_aegra(
            workdir=workdir, env=env, port=port, workers=workers, startup_timeout=startup_timeout, stop_timeout=stop_timeout
        ) as server:
            yield server
    except BaseException:
        left = remove_leftovers(data_dir(workdir), port)  # the error in flight says more; just clean up
        if left:
            sys.stderr.write(f"serve.sh left these behind (now removed): {'; '.join(left)}\n")
        raise
    left = remove_leftovers(data_dir(workdir), port)
    if left:
        msg = f"serve.sh left these behind after it stopped (now removed): {'; '.join(left)}"
        raise LeftBehindError(msg)


def remove_leftovers(folder: Path, port: int) -> list[str]:
    """Stop whatever serve.sh started for `folder` / `port` that still runs or is mounted; say what it was."""
    left: list[str] = []
    running = deployment_processes(folder, port)
    for what, pids in running.items():
        left.append(f"{what} (pids {pids})")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in (pid for pids in running.values() for pid in pids):
        _wait_gone(pid, timeout=30)
    marker = folder / "mounted-at"
    if marker.exists():
        mount_point = marker.read_text(encoding="utf-8").strip()
        left.append(f"the bind mount {mount_point}")
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
        with contextlib.suppress(OSError):
            Path(mount_point).rmdir()
        marker.unlink()
    return left


def deployment_processes(folder: Path, port: int) -> dict[str, list[int]]:
    """What of the deployment with data folder `folder` on `port` still runs, by part (parts with none left out).

    Found by what each process is, not by who its parent was, so processes orphaned
    by a killed entry point count too: the entry point by its command line, the
    server processes (uvicorn's supervisor and its workers, also prepare.py and
    wait_ready.py) by the `PORT` and `AEGRA_CONFIG` they were given, and every
    PostgreSQL and Redis process by its working directory, which each keeps in its
    data folder (through the bind mount too: same device and inode).
    """
    found: dict[str, list[int]] = {}
    folder_arg, port_env = str(folder).encode(), f"PORT={port}".encode()
    pg_data, redis_dir = _dir_id(folder / "pg" / "data"), _dir_id(folder / "redis")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        part = None
        if any(arg.endswith(b"deploy/aegra/serve.py") for arg in argv) and folder_arg in argv:
            part = "the entry point serve.py"
        elif port_env in environ and any(item.startswith(b"AEGRA_CONFIG=") for item in environ):
            part = f"Aegra server processes on port {port}"
        else:
            cwd = _dir_id(entry / "cwd")
            if cwd is not None and cwd == pg_data:
                part = f"PostgreSQL of {folder}"
            elif cwd is not None and cwd == redis_dir:
                part = f"Redis of {folder}"
        if part is not None and (entry / "stat").exists() and not _zombie(entry):
            found.setdefault(part, []).append(int(entry.name))
    return found


def _dir_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the directory `path` leads to; None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _zombie(entry: Path) -> bool:
    """Whether the process of `/proc/<pid>` `entry` has exited and waits to be reaped."""
    try:
        return entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and not _zombie(Path(f"/proc/{pid}")) and time.monotonic() < deadline:
        time.sleep(0.2)
