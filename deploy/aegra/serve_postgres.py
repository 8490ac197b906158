"""A local PostgreSQL for the deployment: its cluster in DIR/pg, run as a child of the entry point.

`postgres` itself runs as the child (not `pg_ctl`, which daemonizes it into a
process nothing waits for), so it dies with the entry point; stopping it is a
fast shutdown (SIGINT to the postmaster). It listens on loopback TCP only, on a
free port chosen at each start, with the password from DIR/secrets.env.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from serve_children import Cleanups, run, spawn, stop, wait_for
from serve_data import give_to, running_in, secret, service_user, wait_until_ended
from serve_log import Refusal, log
from serve_setup import apt_install, free_loopback_port

PG_USER = "aegra"
PG_DATABASE = "aegra"
STREAM_CONNECTIONS = 100
"""Aegra holds one SQLAlchemy connection for as long as a run's stream is open; this many at once per process."""
PG_CONNECTIONS_PER_WORKER = STREAM_CONNECTIONS + 20
"""Aegra opens up to SQLALCHEMY_POOL_SIZE + SQLALCHEMY_MAX_OVERFLOW + LANGGRAPH_MAX_POOL_SIZE
(10 + 90 + 20 here) connections per process; the local PostgreSQL allows that per worker."""
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
PORT_ATTEMPTS = 3
"""Another program may take the free port between choosing and binding it: try that many."""


def find_bin() -> Path | None:
    """The newest Debian PostgreSQL's bin folder (or the one of initdb on PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: [int(p) for p in Path(path).parent.name.split(".") if p.isdigit()]
    )
    for folder in reversed(found):
        if os.access(f"{folder}/initdb", os.X_OK) and os.access(f"{folder}/postgres", os.X_OK):
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


def ensure_bin() -> Path:
    """PostgreSQL's programs, installed from Debian's packages when missing (root)."""
    folder = find_bin()
    if folder is None:
        log("postgresql: installing Debian's postgresql")
        apt_install("postgresql")
        folder = find_bin()
    if folder is None:
        msg = "postgresql installed, but initdb/postgres were not found under /usr/lib/postgresql"
        raise Refusal(msg)
    return folder


def start(data_dir: Path, service_dir: Path, workers: int, cleanups: Cleanups) -> str:
    """Start (creating on first use) the PostgreSQL of `data_dir`; its DATABASE_URL.

    `service_dir` is `data_dir` as the service user reaches it (maybe a bind mount).
    """
    pg_bin = ensure_bin()
    user = service_user("postgres")
    pg_home = data_dir / "pg"
    pg_home.mkdir(parents=True, exist_ok=True)
    pg_home.chmod(0o700)
    give_to(user, pg_home)
    pg_data = service_dir / "pg" / "data"
    password = secret(data_dir, "POSTGRES_PASSWORD")
    if not (pg_home / "data" / "PG_VERSION").exists():
        create_cluster(pg_bin, user, pg_home, service_dir / "pg", password)
    running = running_in(pg_home / "data", pg_home / "data" / "postmaster.pid")
    if running is not None:
        msg = (
            f"the PostgreSQL of {data_dir} is already running: another serve.sh uses this data folder "
            f"(then stop that one first, or stop PostgreSQL's process {running})"
        )
        raise Refusal(msg)
    wait_until_ended("postgresql", pg_home / "data", pg_home / "data" / "postmaster.pid")
    log_file = pg_home / "postgres.log"
    max_connections = PG_CONNECTIONS_PER_WORKER * workers + 20
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_loopback_port()
        log(f"postgresql: starting on 127.0.0.1:{port} (log: {log_file})")
        log_start = log_file.stat().st_size if log_file.exists() else 0
        with log_file.open("ab") as output:
            postgres = spawn(
                [str(pg_bin / "postgres"), "-D", str(pg_data), "-p", str(port), "-c", f"max_connections={max_connections}"],
                user=user,
                output=output,
            )
        cleanups.add(functools.partial(stop, "postgresql", postgres, signal.SIGINT, STOP_TIMEOUT))
        ready = functools.partial(accepts_connections, pg_home / "data", postgres.pid)
        if wait_for(ready, child=postgres, timeout=START_TIMEOUT):
            break
        stop("postgresql", postgres, signal.SIGINT, 10)
        with log_file.open("rb") as read:
            read.seek(log_start)
            this_start = read.read().decode(errors="replace")
        if attempt < PORT_ATTEMPTS and "already in use" in this_start:
            continue  # another program took the free port meanwhile
        print("\n".join(this_start.splitlines()[-30:]), file=sys.stderr)
        msg = f"PostgreSQL did not start (log: {log_file})"
        raise Refusal(msg)
    create_database(pg_bin, port, password)
    log(f"postgresql: ready (database {PG_DATABASE})")
    return f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}/{PG_DATABASE}"


def create_cluster(pg_bin: Path, user: str, pg_home: Path, service_pg_home: Path, password: str) -> None:
    """A new cluster in `pg_home`/data (superuser PG_USER, scram passwords), listening on loopback TCP only."""
    log(f"postgresql: creating a cluster in {pg_home / 'data'} (superuser {PG_USER})")
    password_file = pg_home / "initdb-password"
    password_file.touch(mode=0o600)
    password_file.write_text(f"{password}\n", encoding="utf-8")
    give_to(user, password_file)
    initdb_log = pg_home / "initdb.log"
    try:
        with initdb_log.open("wb") as output:
            status = run(
                [
                    str(pg_bin / "initdb"),
                    *("-D", str(service_pg_home / "data"), "-U", PG_USER),
                    f"--pwfile={service_pg_home / 'initdb-password'}",
                    *("--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C"),
                ],
                user=user,
                output=output,
            )
    finally:
        password_file.unlink(missing_ok=True)
    if status != 0:
        print("\n".join(initdb_log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
        msg = f"initdb failed (log: {initdb_log})"
        raise Refusal(msg)
    # Loopback TCP only: no Unix socket, so nothing depends on /var/run/postgresql.
    with (pg_home / "data" / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")


def accepts_connections(pg_data: Path, pid: int) -> bool:
    """Whether the postmaster `pid` says in its postmaster.pid that it is ready (as `pg_ctl -w` reads it)."""
    try:
        lines = (pg_data / "postmaster.pid").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def create_database(pg_bin: Path, port: int, password: str) -> None:
    """The database PG_DATABASE, created when missing."""
    # The password goes by environment, never on a command line other users can read.
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    psql = [str(pg_bin / "psql"), f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"]
    query = f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"  # noqa: S608 - a constant, not input
    found = subprocess.run([*psql, "-tAc", query], env=env, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        msg = f"could not query the local PostgreSQL: {found.stderr.strip()}"
        raise Refusal(msg)
    if not found.stdout.strip():
        if subprocess.run([*psql, "-qc", f"CREATE DATABASE {PG_DATABASE}"], env=env, check=False).returncode != 0:
            msg = f"could not create the database {PG_DATABASE}"
            raise Refusal(msg)
        log(f"postgresql: created database {PG_DATABASE}")
