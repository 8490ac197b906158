"""A local Redis for a deployment of several server processes, run as a child of the entry point.

The broker's queues and channels live while the servers run; nothing is saved to
disk. It listens on loopback only, on a free port chosen at each start, with the
password from DIR/secrets.env, and dies with the entry point like PostgreSQL.
"""

from __future__ import annotations

import functools
import shutil
import signal
import sys
from pathlib import Path

from serve_children import Cleanups, spawn, stop, wait_for
from serve_data import give_to, running_in, secret, service_user
from serve_log import Refusal, log
from serve_setup import apt_install, free_loopback_port

READY = "Ready to accept connections"
"""What redis-server logs once it serves."""
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PORT_ATTEMPTS = 3
"""Another program may take the free port between choosing and binding it: try that many."""


def start(data_dir: Path, service_dir: Path, cleanups: Cleanups) -> str:
    """Start the Redis of `data_dir` (`service_dir` as its user reaches it); its REDIS_URL."""
    if shutil.which("redis-server") is None:
        log("redis: installing Debian's redis-server")
        apt_install("redis-server")
    user = service_user("redis", "postgres")
    home = data_dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    password = secret(data_dir, "REDIS_PASSWORD")
    running = running_in(home, home / "redis.pid")
    if running is not None:
        msg = (
            f"the Redis of {data_dir} is already running (pid {running}): another serve.sh uses this data folder "
            "(then stop that one first, or stop that process)"
        )
        raise Refusal(msg)
    give_to(user, home)
    conf, log_file = home / "redis.conf", home / "redis.log"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_loopback_port()
        conf.touch(mode=0o600)
        conf.write_text(
            f"bind 127.0.0.1\nport {port}\nprotected-mode yes\nrequirepass {password}\ndaemonize no\n"
            f"dir {service_dir / 'redis'}\npidfile {service_dir / 'redis' / 'redis.pid'}\n"
            'logfile ""\nsave ""\nappendonly no\n',
            encoding="utf-8",
        )
        give_to(user, conf)
        log(f"redis: starting on 127.0.0.1:{port} (log: {log_file})")
        with log_file.open("wb") as output:
            redis = spawn(["redis-server", str(service_dir / "redis" / "redis.conf")], user=user, output=output)
        cleanups.add(functools.partial(stop, "redis", redis, signal.SIGTERM, STOP_TIMEOUT))
        if wait_for(lambda: READY in log_file.read_text(errors="replace"), child=redis, timeout=START_TIMEOUT):
            break
        stop("redis", redis, signal.SIGTERM, 5)
        text = log_file.read_text(errors="replace")
        if attempt < PORT_ATTEMPTS and "already in use" in text:
            continue  # another program took the free port meanwhile
        print("\n".join(text.splitlines()[-30:]), file=sys.stderr)
        msg = f"Redis did not start (log: {log_file})"
        raise Refusal(msg)
    log("redis: ready")
    return f"redis://:{password}@127.0.0.1:{port}/0"
