"""Wait until Aegra answers `/info` on every worker; serve.sh runs it after starting the server.

uvicorn shares one port between its workers, so one answer from `/info` proves only that
some worker is up. Each worker logs "Application startup complete." once its startup (the
graph loaded, the database and Redis connected) is done, so readiness is: `/info` answers
and the server log holds that line once per worker. Exits 1 with the log's tail when the
server exits first, a worker's startup fails, or it does not get there in time.

A worker whose startup failed (a graph that cannot be imported, a database refused) exits,
and uvicorn then stops every worker; but its supervisor notices only after a health check of
each worker has timed out (a minute for two), so the failure is reported from the log at once.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Our own server is local: never ask a proxy."""

STARTED = "Application startup complete"
"""What uvicorn logs once per process when its application's startup is done."""


FAILED = "Application startup failed"
"""What uvicorn logs when a process's application startup raised (that process then exits)."""


def answers(url: str) -> bool:
    """Whether `GET url/info` answers 200."""
    try:
        with _DIRECT.open(f"{url}/info", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def started_workers(log_text: str) -> int:
    """How many processes have logged that their startup is complete."""
    return log_text.count(STARTED)


def startup_failed(log_text: str) -> bool:
    """Whether a process has logged that its startup failed."""
    return FAILED in log_text


def read_log(log: Path) -> str:
    """The server log so far (read once per poll: it grows for as long as the server runs)."""
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def tail(log: Path, lines: int = 60) -> str:
    """The last `lines` lines of `log`."""
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def main() -> int:
    """Poll until ready (0), or report why not (1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    while True:
        log_text = read_log(args.log)
        if started_workers(log_text) >= args.workers and answers(args.url):
            return 0
        if startup_failed(log_text):
            print(f"error: a worker's startup failed ({FAILED!r} in the server log); its log ends with:\n{tail(args.log)}", file=sys.stderr)
            return 1
        if not alive(args.pid):
            print(f"error: the server exited before answering {args.url}/info; its log ends with:\n{tail(args.log)}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(
                f"error: {args.url}/info did not answer on all {args.workers} worker(s) within {args.timeout:.0f}s "
                f"({started_workers(log_text)} started); its log ends with:\n{tail(args.log)}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
