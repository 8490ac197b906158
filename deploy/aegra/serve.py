"""The production-style deployment's entry point: Aegra + PostgreSQL + Redis, stopped together on any exit.

`deploy/aegra/serve.sh` sets up uv and the Python packages, then execs this program,
so this is the process an operator, a terminal or systemd signals:

    python deploy/aegra/serve.py --port PORT [--workers N] [--host HOST] [--data-dir DIR] [--config FILE]

What it starts (see serve.sh's header): a local PostgreSQL unless DATABASE_URL is set,
a local Redis for N > 1 unless REDIS_URL is set, one migration (prepare.py), then N
uvicorn workers on one port, which count their metrics in DIR/metrics (emptied at each
start) so that a scrape of `/metrics` on any of them sees all. Each runs as a child that
dies with this process, so:

- SIGTERM / SIGINT / SIGHUP: the server stops (it drains, up to STOP_TIMEOUT), then
  Redis, then PostgreSQL (fast shutdown), then the bind mount goes; exit 143/130/129.
- SIGKILL of this process: the kernel kills the children (their parent-death signal).
- Death of the process that started this one: noticed within a second; as SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import serve_postgres
import serve_redis
from dotenv import dotenv_values
from serve_children import Cleanups, Stopped, hold_signals, kill_group, run, spawn, stop, stop_on_signals
from serve_data import prepare
from serve_log import Refusal, error, log
from serve_setup import PROJECT_ROOT, ensure_platform

STARTUP_TIMEOUT = 600
"""Seconds the server may take to answer /info on every worker (imports are slow on a busy machine)."""
STOP_TIMEOUT = 60.0
"""Seconds the server gets to stop (uvicorn drains, Aegra finishes its jobs) before it is killed."""
USAGE_LINES = (6, 12)
"""The lines of serve.sh's header that describe its options."""


class Options(argparse.Namespace):
    """The command line, checked."""

    port: int
    workers: int
    host: str
    data_dir: Path
    config: Path


def usage() -> str:
    """The options, as serve.sh's header describes them."""
    lines = (PROJECT_ROOT / "deploy" / "aegra" / "serve.sh").read_text(encoding="utf-8").splitlines()
    return "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[USAGE_LINES[0] - 1 : USAGE_LINES[1]])


def parse(argv: list[str]) -> Options:
    """The options; a wrong one is refused (exit 2 with the usage, or 1 with the reason)."""
    values = {"port": "", "workers": "1", "host": "127.0.0.1", "data-dir": ".data/aegra", "config": str(PROJECT_ROOT / "langgraph.json")}
    rest = list(argv)
    while rest:
        option = rest.pop(0)
        if option in ("-h", "--help"):
            print(usage(), file=sys.stderr)
            raise SystemExit(2)
        if not option.startswith("--") or option[2:] not in values:
            print(f"serve.sh: unknown option {option}\n{usage()}", file=sys.stderr)
            raise SystemExit(2)
        values[option[2:]] = rest.pop(0) if rest else ""
    port, workers = values["port"], values["workers"]
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not (re.fullmatch("[0-9]+", port) and 1 <= int(port) <= 65535):
        raise Refusal("--port PORT is required (1-65535)")
    if not (re.fullmatch("[0-9]+", workers) and int(workers) >= 1):
        raise Refusal(f"--workers N needs a whole number of at least 1, not '{workers}'")
    if not values["host"]:
        raise Refusal("--host needs an address")
    options = Options()
    options.port, options.workers, options.host = int(port), int(workers), values["host"]
    # Relative paths are the caller's, as with any command.
    options.data_dir = Path(os.path.realpath(values["data-dir"]))
    options.config = Path(os.path.realpath(values["config"]))
    if not options.config.is_file():
        raise Refusal(f"--config {options.config}: no such file")
    return options


def load_env_file() -> None:
    """Export .env's variables for Aegra, which reads its settings (DATABASE_URL, ...) from the environment only.

    The server's own settings read .env anyway (config/ loads it). Variables already
    in the environment win, as everywhere.
    """
    if not Path(".env").is_file():
        log(".env: none; settings come from the environment (see .env.example)")
        return
    for key, value in dotenv_values(".env").items():
        if key.isidentifier() and key not in os.environ and value is not None:
            os.environ[key] = value
    log(".env: read (the environment wins over it)")


def start_services(options: Options, cleanups: Cleanups) -> None:
    """PostgreSQL and Redis: the given DATABASE_URL / REDIS_URL, or local ones; exported for Aegra."""
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    users = [] if database_url else ["postgres"]
    if not redis_url and options.workers > 1:
        users += ["redis", "postgres"]
    service_dir = prepare(options.data_dir, users, cleanups) if users else options.data_dir
    if database_url:
        log("postgresql: DATABASE_URL is set; no local PostgreSQL")
    else:
        database_url = serve_postgres.start(options.data_dir, service_dir, options.workers, cleanups)
    broker = bool(redis_url) or options.workers > 1
    if redis_url:
        log("redis: REDIS_URL is set; runs and streams are shared through it")
    elif options.workers > 1:
        redis_url = serve_redis.start(options.data_dir, service_dir, cleanups)
    else:
        log("redis: not needed for one process (no REDIS_URL); runs stay in that process")
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_BROKER_ENABLED=str(broker).lower())
    if users:
        connection = options.data_dir / "connection.env"
        connection.touch(mode=0o600)
        connection.write_text(f"DATABASE_URL={database_url}\nREDIS_URL={redis_url if broker else ''}\n", encoding="utf-8")
        cleanups.add(lambda: connection.unlink(missing_ok=True))


def aegra_settings(options: Options) -> None:
    """Aegra's own settings: the config to serve, where to listen, no per-worker migrations.

    ENV_MODE=PRODUCTION logs one JSON object per line. Aegra holds one SQLAlchemy
    connection per open stream, so unless set, SQLALCHEMY_MAX_OVERFLOW lets one process
    hold STREAM_CONNECTIONS streams at once (its default pool fails the 31st).
    """
    os.environ.update(AEGRA_CONFIG=str(options.config), HOST=options.host, PORT=str(options.port), RUN_MIGRATIONS_ON_STARTUP="false")
    os.environ.setdefault("ENV_MODE", "PRODUCTION")
    pool = int(os.environ.get("SQLALCHEMY_POOL_SIZE") or 10)
    os.environ.setdefault("SQLALCHEMY_MAX_OVERFLOW", str(serve_postgres.STREAM_CONNECTIONS - pool))


def metrics_folder(options: Options) -> None:
    """An empty DIR/metrics for prometheus-client's multiprocess mode, so a scrape of any worker sees every worker's counts.

    Each worker writes its counters there (files named by pid); values of an earlier
    start are stale, so the folder is emptied first.
    """
    folder = options.data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def start_server(options: Options, cleanups: Cleanups) -> subprocess.Popen[bytes]:
    """The uvicorn supervisor sharing one port between N workers; its output in DIR/server.log, shown here too.

    With Redis every worker can join any run's stream and pick up any queued run, so
    a client may land on any of them (as behind a load balancer).
    """
    server_log = options.data_dir / "server.log"
    options.data_dir.mkdir(parents=True, exist_ok=True)
    if server_log.exists():
        server_log.replace(server_log.with_name("server.log.previous"))
    server_log.write_bytes(b"")
    tail = spawn(["tail", "-n", "+1", "-F", f"--pid={os.getpid()}", str(server_log)], output=None)
    cleanups.add(lambda: end_tail(tail))
    url = f"http://{options.host}:{options.port}"
    log(f"ready soon: starting Aegra with {options.workers} worker(s) on {url} (log: {server_log})")
    with server_log.open("ab") as output:
        server = spawn(
            [
                *(sys.executable, "-m", "uvicorn", "aegra_worker:app", "--app-dir", str(Path(__file__).parent)),
                *("--host", options.host, "--port", str(options.port), "--workers", str(options.workers)),
                *("--timeout-worker-healthcheck", "60", "--timeout-graceful-shutdown", "20", "--no-access-log"),
            ],
            output=output,
        )
    cleanups.add(lambda: stop("server", server, signal.SIGTERM, STOP_TIMEOUT))
    return server


def end_tail(tail: subprocess.Popen[bytes]) -> None:
    """Stop showing the server's log, a moment after the server stopped so its last lines show too."""
    time.sleep(1)
    tail.terminate()
    tail.wait(timeout=5)


def serve(options: Options, cleanups: Cleanups) -> int:
    """Start everything, wait until ready, then until the server exits; its exit code."""
    load_env_file()
    if os.environ.get("ZHIPUAI_API_KEY", "") in ("", "your-zhipuai-api-key"):
        log("NOTE: ZHIPUAI_API_KEY is not set. The server starts, but every run fails until you set it.")
    os.environ["SANDBOX_IMAGE"] = ensure_platform()
    start_services(options, cleanups)
    aegra_settings(options)
    log("database: migrating once before the workers start")
    if run([sys.executable, str(Path(__file__).with_name("prepare.py"))]) != 0:
        raise Refusal("the database or Redis is not usable (see above)")
    metrics_folder(options)
    server = start_server(options, cleanups)
    url_host = "127.0.0.1" if options.host == "0.0.0.0" else options.host  # noqa: S104 - compared, not bound
    url = f"http://{url_host}:{options.port}"
    wait_ready = [sys.executable, str(Path(__file__).with_name("wait_ready.py")), "--url", url, "--workers", str(options.workers)]
    wait_ready += ["--log", str(options.data_dir / "server.log"), "--pid", str(server.pid), "--timeout", str(STARTUP_TIMEOUT)]
    if run(wait_ready) != 0:
        # Nothing was served, so nothing needs draining; and uvicorn's supervisor, stuck in a health
        # check of a worker that already failed, would take a minute to answer SIGTERM.
        log("server: did not come up; killing it")
        kill_group(server)
        raise Refusal(f"Aegra did not come up (log: {options.data_dir / 'server.log'})")
    log(f"ready: Aegra serves {options.config} on {url} ({options.workers} worker(s), /info answers; Ctrl-C stops it all)")
    status = server.wait()
    log(f"the server exited with code {status}")
    return status


def main(argv: list[str]) -> int:
    """Serve until stopped; whatever was started is stopped, last started first, however this ends."""
    cleanups = Cleanups()
    try:
        stop_on_signals()
        options = parse(argv)
        os.chdir(PROJECT_ROOT)
        return serve(options, cleanups)
    except Stopped as stopped:
        hold_signals()
        log(f"stopping: {stopped}")
        return stopped.code
    except Refusal as refusal:
        hold_signals()
        error(str(refusal))
        return 1
    finally:
        hold_signals()
        cleanups.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
