"""Start the real `langgraph dev` server for end-to-end tests.

`run_langgraph_dev()` is a context manager: it launches

    langgraph dev --no-browser --no-reload --port <free port> --n-jobs-per-worker 8 --config <config>

in its own process group with a controlled environment, waits until `GET /info`
answers, yields a `LangGraphServer` (base URL, log file), and on exit stops the
whole process group. Server output goes to a log file; when startup fails, the
error carries the log's tail.

Isolation: `langgraph dev` keeps its in-memory runtime's pickles in
`./.langgraph_api` of its working directory, and a `"env"` entry of
`langgraph.json` would override the variables the tests set. So by default the
server runs from a private directory, with a copy of the repository's
`langgraph.json` whose graph paths and dependencies point back into the
repository and whose `"env"` entry is dropped. Pass `isolate=False` to run the
repository's own config from the repository root instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout holding `langgraph.json`."""

START_SCRIPT = "scripts/start.sh"
"""The README's one command from a bare machine to a running server."""

RESERVED_PORTS = frozenset({2024})
"""Ports never used: 2024 is `langgraph dev`'s default and may be taken by a developer's server."""

TEST_SERVER_DEFAULTS = {
    "SANDBOX_DISK_QUOTA": "64m",
    "SANDBOX_ARTIFACTS_QUOTA": "16m",
    "SANDBOX_SNAPSHOT_QUOTA": "32m",
    "SANDBOX_DISK_PER_USER": "0",
}
"""Test servers' workspaces, `/artifacts` and snapshot stores get small disk quotas (when root), so the
hundreds of threads one test user makes over a whole run stay far below SANDBOX_DISK_TOTAL. A shared
test server's one user stands for many people's sessions, so it has no per-user budget; the tests of
that budget set their own. A test's `env` or the caller's environment wins."""

QUIET_ENV = {
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "utf-8",
    "LOG_COLOR": "false",
    "NO_COLOR": "1",
}
"""Keep the server offline-friendly and its log complete."""


class ServerStartError(RuntimeError):
    """The server exited or never answered its readiness path; the message carries the log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (never one of `RESERVED_PORTS`)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def langgraph_command() -> list[str]:
    """How to invoke the CLI: the venv's `langgraph` when present, else `uv run langgraph`."""
    for candidate in (REPO_ROOT / ".venv" / "bin" / "langgraph", Path(sys.executable).with_name("langgraph")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    return ["uv", "run", "langgraph"]


def tail(path: Path, lines: int = 150) -> str:
    """The last `lines` lines of `path` ("" when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _absolute(spec: str, root: Path) -> str:
    """`./agent/graph.py:agent` -> `/repo/agent/graph.py:agent`; module specs stay as they are."""
    path, sep, attr = spec.partition(":")
    if path.endswith(".py") or path.startswith((".", "/")):
        path = str((root / path).resolve())
    return f"{path}{sep}{attr}"


def isolated_config(config: Path, directory: Path) -> Path:
    """Copy `config` into `directory` with repository-absolute paths and no `"env"` entry.

    Graph paths, `http.app` and `auth.path` are rewritten: each would otherwise be
    resolved against the private directory.
    """
    data: dict[str, Any] = json.loads(config.read_text(encoding="utf-8"))
    root = config.resolve().parent
    data.pop("env", None)
    data["dependencies"] = [str((root / dep).resolve()) if dep.startswith((".", "/")) else dep for dep in data.get("dependencies", [])] or [
        str(root)
    ]
    graphs: dict[str, Any] = {}
    for name, value in data.get("graphs", {}).items():
        if isinstance(value, str):
            graphs[name] = _absolute(value, root)
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            graphs[name] = {**value, "path": _absolute(value["path"], root)}
        else:
            graphs[name] = value
    data["graphs"] = graphs
    for section, key in (("http", "app"), ("auth", "path")):
        entry = data.get(section)
        if isinstance(entry, dict) and isinstance(entry.get(key), str):
            entry[key] = _absolute(entry[key], root)
    target = directory / "langgraph.json"
    target.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return target


@dataclass(frozen=True)
class E2EPaths:
    """Host folders the server's sandboxes use."""

    workspaces: Path
    shared: Path
    server_home: Path
    memories: Path

    def workspace(self, thread_id: str) -> Path:
        """Host folder mounted as `/workspace` for `thread_id`."""
        return self.workspaces / thread_id


@dataclass
class LangGraphServer:
    """A running `langgraph dev`."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path

    @property
    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server's whole process group now (SIGTERM, then SIGKILL after `timeout`)."""
        _stop(self.process, timeout)

    def log_size(self) -> int:
        """Current size of the log in bytes (to show only what a test added)."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int, max_chars: int = 20_000) -> str:
        """Log text written after byte `offset`, trimmed to its last `max_chars` characters."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text[-max_chars:]

    def log_tail(self, lines: int = 150) -> str:
        """The last `lines` lines of the server log."""
        return tail(self.log_path, lines)


READY_PATH = "/info"
"""Readiness: `/info` answers on `langgraph dev` and on Aegra alike (`/ok` is langgraph dev's only)."""


def _answers(url: str, path: str = READY_PATH) -> bool:
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _log_has(log_path: Path, offset: int, marker: str | None) -> bool:
    """Whether `marker` (if any) was written to the log after byte `offset`."""
    if marker is None:
        return True
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            return marker.encode() in handle.read()
    except FileNotFoundError:
        return False


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def run_langgraph_dev(
    *,
    workdir: Path,
    env: Mapping[str, str],
    config: Path | None = None,
    port: int | None = None,
    n_jobs_per_worker: int = 8,
    startup_timeout: float = 90.0,
    stop_timeout: float = 20.0,
    isolate: bool = True,
) -> Iterator[LangGraphServer]:
    """Run `langgraph dev` until the `with` block ends.

    Args:
        workdir: Private directory for the log (`server.log`), the config copy and
            the server's `.langgraph_api` state.
        env: Variables set for the server on top of this process's environment
            (e.g. `ZHIPUAI_API_BASE`, `SANDBOX_WORKSPACES_DIR`).
        config: The `langgraph.json` to serve (default: the repository's).
        port: Port to bind on 127.0.0.1 (default: a free one, never 2024).
        n_jobs_per_worker: Concurrent runs the server may execute.
        startup_timeout: Seconds to wait for `GET /info`.
        stop_timeout: Seconds between SIGTERM and SIGKILL on exit.
        isolate: Run from `workdir` with a path-resolved copy of the config
            (see the module docstring) rather than from the repository root.

    Raises:
        ServerStartError: The server exited or did not answer in time.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = (config or REPO_ROOT / "langgraph.json").resolve()
    port = port or free_port()
    if port in RESERVED_PORTS:
        msg = f"port {port} is reserved for developers' own servers"
        raise ValueError(msg)
    if isolate:
        served_config, cwd = isolated_config(config, workdir), workdir
    else:
        served_config, cwd = config, config.parent

    command = [
        *langgraph_command(),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n-jobs-per-worker",
        str(n_jobs_per_worker),
        "--config",
        str(served_config),
    ]
    timeouts: dict[str, Any] = {"startup_timeout": startup_timeout, "stop_timeout": stop_timeout}
    with serve("langgraph dev", command, cwd=cwd, env=server_env(env), workdir=workdir, port=port, **timeouts) as server:
        yield server


def clone_checkout(destination: Path) -> Path:
    """Copy this checkout's files the way a fresh clone has them, into `destination`.

    Tracked and new files, as they are in the working tree; nothing git ignores
    (no `.venv`, no `.env`, no `workspaces/` content), so the copy starts bare.
    """
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True, check=True
    )
    for name in listing.stdout.decode().split("\0"):
        source = REPO_ROOT / name
        if not name or not source.is_file():  # the last entry, or deleted in the working tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def checkout_env(env: Mapping[str, str]) -> dict[str, str]:
    """`server_env(env)` without the test run's virtualenv, for scripts run in another checkout.

    `uv run pytest` exports its `.venv` (VIRTUAL_ENV, PATH); a script in another
    checkout must sync and use that checkout's own environment instead.
    """
    child_env = server_env(env)
    for variable in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):
        child_env.pop(variable, None)
    test_venv_bin = str(REPO_ROOT / ".venv" / "bin")
    child_env["PATH"] = os.pathsep.join(p for p in child_env.get("PATH", "").split(os.pathsep) if p != test_venv_bin)
    return child_env


@contextlib.contextmanager
def run_start_script(
    *,
    checkout: Path,
    workdir: Path,
    env: Mapping[str, str],
    port: int | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 300.0,
    stop_timeout: float = 20.0,
) -> Iterator[LangGraphServer]:
    """Run the README's server command in `checkout` until the `with` block ends.

    `bash scripts/start.sh --host 127.0.0.1 --port <port> --no-reload [extra_args]`
    sets `checkout` up (its own `.venv` and `.env`, Docker, the sandbox image)
    and execs `langgraph dev` there. The script's own report comes first in
    `workdir/server.log`. Its environment is `checkout_env(env)`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = ["bash", str(checkout / START_SCRIPT), "--host", "127.0.0.1", "--port", str(port), "--no-reload", *extra_args]
    timeouts: dict[str, Any] = {"startup_timeout": startup_timeout, "stop_timeout": stop_timeout}
    with serve(START_SCRIPT, command, cwd=checkout, env=checkout_env(env), workdir=workdir, port=port, **timeouts) as server:
        yield server


def server_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment over `TEST_SERVER_DEFAULTS`, quieted (`QUIET_ENV`), with `env` on top; loopback never proxied."""
    child_env = {**TEST_SERVER_DEFAULTS, **os.environ, **QUIET_ENV, **env}
    if any(child_env.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")):
        # The scripted LLM is local: never send it through a proxy.
        no_proxy = ",".join(filter(None, [child_env.get("NO_PROXY") or child_env.get("no_proxy"), "127.0.0.1", "localhost"]))
        child_env["NO_PROXY"] = child_env["no_proxy"] = no_proxy
    return child_env


@contextlib.contextmanager
def serve(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    workdir: Path,
    port: int,
    startup_timeout: float,
    stop_timeout: float = 20.0,
    ready_path: str = READY_PATH,
    ready_marker: str | None = None,
) -> Iterator[LangGraphServer]:
    """Run `command` (server `name` on 127.0.0.1:`port`) until the `with` block ends.

    The command runs in its own process group with exactly `env`, its output in
    `workdir/server.log`; it is ready when `GET <ready_path>` answers (and, when
    `ready_marker` is given, once the command has printed it). On exit the whole
    group is stopped (SIGTERM, then SIGKILL after `stop_timeout` seconds).

    Raises:
        ServerStartError: The command exited or did not answer in time.
    """
    log_path = workdir / "server.log"
    url = f"http://127.0.0.1:{port}"
    log_start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        log.write(f"$ (cd {cwd} && {' '.join(command)})\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LangGraphServer(url=url, process=process, log_path=log_path, workdir=workdir)
    try:
        deadline = time.monotonic() + startup_timeout
        while not (_log_has(log_path, log_start, ready_marker) and _answers(url, ready_path)):
            if process.poll() is not None:
                msg = f"{name} exited with code {process.returncode} before answering {ready_path}\n--- {log_path} ---\n{tail(log_path)}"
                raise ServerStartError(msg)
            if time.monotonic() > deadline:
                msg = f"{name} did not answer {url}{ready_path} within {startup_timeout:.0f}s\n--- {log_path} ---\n{tail(log_path)}"
                raise ServerStartError(msg)
            time.sleep(0.5)
        yield server
    except ServerStartError:
        raise
    except BaseException:
        sys.stderr.write(f"\n--- server log tail ({log_path}) ---\n{tail(log_path)}\n")
        raise
    finally:
        _stop(process, stop_timeout)
