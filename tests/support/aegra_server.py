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
from collections.abc import Iterator, Mapping
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
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = isolated_config(REPO_ROOT / "langgraph.json", workdir)
    command = [
        "bash",
        str(SERVE_SCRIPT),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--data-dir", str(data_dir(workdir)), "--config", str(config)),
    ]
    child_env = server_env({**dict.fromkeys(NOT_INHERITED, ""), **env})
    try:
        with serve(
            "deploy/aegra/serve.sh",
            command,
            cwd=REPO_ROOT,
            env=child_env,
            workdir=workdir,
            port=port,
            ready_path="/info",
            ready_marker=READY_MARKER,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
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
    server_pids = _uvicorn_pids(port)
    if server_pids:
        left.append(f"Aegra server processes {server_pids} on port {port}")
        for pid in server_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name, pid_file, stop_signal in (
        ("PostgreSQL", folder / "pg" / "data" / "postmaster.pid", signal.SIGQUIT),  # SIGQUIT: immediate shutdown
        ("Redis", folder / "redis" / "redis.pid", signal.SIGTERM),
    ):
        running = _running_pid(pid_file)
        if running is not None:
            left.append(f"{name} (pid {running}, {pid_file})")
            os.kill(running, stop_signal)
            _wait_gone(running, timeout=30)
    marker = folder / "mounted-at"
    if marker.exists():
        mount_point = marker.read_text(encoding="utf-8").strip()
        left.append(f"the bind mount {mount_point}")
        subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
        with contextlib.suppress(OSError):
            Path(mount_point).rmdir()
        marker.unlink()
    return left


def _running_pid(pid_file: Path) -> int | None:
    """The pid in the first line of `pid_file` when that process runs (None when the file is gone or stale)."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def _uvicorn_pids(port: int) -> list[int]:
    """Processes running `uvicorn aegra_api.main:app ... --port <port>` (and their workers, by parent)."""
    servers: list[int] = []
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"aegra_api.main:app" in argv and str(port).encode() in argv:
            servers.append(int(entry.name))
    workers = [pid for pid, parent in parents.items() if parent in servers]
    return sorted({*servers, *workers})
