"""Answer questions from the audit log on the command line, such as what user X's agent ran yesterday.

    uv run python -m server.audit_query --user alice --on yesterday --kind command
    uv run python -m server.audit_query --since 2h --json
    uv run python -m server.audit_query --user alice --since 2026-12-01 --until 2026-12-03

Reads `SANDBOX_AUDIT_LOG` (or `--file`) and every file it was rotated into,
oldest first, so a question spanning a rotation still gets every record. Times
are UTC; `--since`/`--until` take `now`, `today`, `yesterday`, an ISO date or
time, or an age such as `30m`, `2h`, `7d`; `--on DAY` is that whole UTC day.
Plain output is one line per record for a person; `--json` prints the records
themselves (JSON lines) for `jq` and scripts. The record kinds and fields are
documented in docs/audit.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from config.env import SettingsError
from config.sandbox import SandboxSettings
from sandbox.runs.audit import RECORD_FIELDS
from sandbox.runs.audit_read import AuditQuery, AuditReader

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TimeError(ValueError):
    """A time the CLI cannot read; the message says which forms it takes."""


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def parse_time(raw: str, *, now: datetime) -> datetime:
    """A moment (UTC) from `now`, `today`, `yesterday`, an ISO date or time, or an age like `2h`."""
    text = raw.strip().lower()
    if text == "now":
        return now
    if text == "today":
        return _start_of_day(now)
    if text == "yesterday":
        return _start_of_day(now) - timedelta(days=1)
    age = _AGE.match(text)
    if age:
        return now - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        forms = "now, today, yesterday, an ISO date or time (2026-12-01, 2026-12-01T10:00Z), or an age (30m, 2h, 7d)"
        msg = f"{raw!r} is not a time: use {forms}"
        raise TimeError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_query(args: argparse.Namespace, *, now: datetime) -> AuditQuery:
    """The query the command-line arguments ask for."""
    since = parse_time(args.since, now=now) if args.since else None
    until = parse_time(args.until, now=now) if args.until else None
    if args.on:
        if since or until:
            msg = "--on is a whole day: give it alone, or use --since/--until"
            raise TimeError(msg)
        since = _start_of_day(parse_time(args.on, now=now))
        until = since + timedelta(days=1)
    kinds = frozenset(args.kind) if args.kind else None
    return AuditQuery(user=args.user, kinds=kinds, thread=args.thread, since=since, until=until)


def describe(record: dict[str, Any]) -> str:
    """One line for a person: time, kind, user, thread, then what happened."""
    kind = str(record.get("event", "?"))
    head = f"{record.get('time', '?')}  {kind:<8}  {record.get('user', '-')}  {record.get('thread', '-')}"
    if kind == "command":
        took = f"exit={record.get('exit_code')} {record.get('duration_ms')}ms id={record.get('command_id', '-')}"
        detail = f"{took}  {record.get('command', '')}"
    elif kind == "approval":
        detail = f"{record.get('decision')} {record.get('tool')} ({record.get('arguments_digest')})"
    elif kind in ("file", "artifact"):
        target = f" -> {record['to']}" if "to" in record else ""
        detail = f"{record.get('operation')} {record.get('path')}{target}"
    elif kind == "admin":
        detail = f"{record.get('operation')} container {record.get('container')} of {record.get('owner')}"
    else:
        detail = json.dumps({k: v for k, v in record.items() if k not in ("time", "event", "user", "thread")}, ensure_ascii=False)
    error = f"  error: {record['error']}" if record.get("error") else ""
    return f"{head}  {detail}{error}"


def parser() -> argparse.ArgumentParser:
    """The command line (`--help` lists it)."""
    cli = argparse.ArgumentParser(prog="python -m server.audit_query", description=__doc__.split("\n\n")[0])
    cli.add_argument("--user", help="only this user's records")
    cli.add_argument("--thread", help="only this thread's records")
    cli.add_argument("--kind", action="append", choices=sorted(RECORD_FIELDS), help="only records of this kind (repeatable)")
    cli.add_argument("--since", help="from this time on (now, today, yesterday, ISO date/time, or an age: 30m, 2h, 7d)")
    cli.add_argument("--until", help="before this time (same forms as --since)")
    cli.add_argument("--on", help="one whole UTC day (today, yesterday, 2026-12-01)")
    cli.add_argument("--limit", type=int, default=0, help="only the last N matching records")
    cli.add_argument("--json", action="store_true", help="print the records as JSON lines")
    cli.add_argument("--file", type=Path, help="the audit log (default: SANDBOX_AUDIT_LOG)")
    return cli


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, now: datetime | None = None) -> int:
    """Print the matching records, oldest first; 2 for arguments it cannot read."""
    cli = parser()
    args = cli.parse_args(argv)
    try:
        query = build_query(args, now=now or datetime.now(UTC))
        path = args.file or SandboxSettings.from_env().audit_log
    except (TimeError, SettingsError) as exc:
        cli.error(str(exc))
    if args.limit < 0:
        cli.error("--limit must be 0 (all) or more")
    reader = AuditReader(path)
    records = list(reversed(reader.newest(args.limit, query))) if args.limit else reader.records(query)
    for record in records:
        out.write((json.dumps(record, ensure_ascii=False) if args.json else describe(record)) + "\n")
    if reader.skipped:
        print(f"skipped {reader.skipped} line(s) that were not JSON records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
