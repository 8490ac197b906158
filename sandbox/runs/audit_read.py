"""Read the audit log back: every rotated file, oldest first, filtered by user, kind and time.

The writer (`sandbox.runs.audit`) rotates `audit.jsonl` into `audit.jsonl.1`,
`.2`, ...; a question such as "what did user X's agent run yesterday" spans
several of them, so readers never open one file alone. Lines that are not JSON
objects (a line cut by a full disk, a hand edit) are skipped and counted, never
fatal: an operator still gets every readable record.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROTATED = re.compile(r"\.(\d+)$")


def audit_files(path: Path) -> list[Path]:
    """The audit file and its rotated ones, oldest first (`.N` ... `.1`, then the live file)."""
    rotated: list[tuple[int, Path]] = []
    if path.parent.is_dir():
        for candidate in path.parent.glob(path.name + ".*"):
            match = _ROTATED.search(candidate.name)
            if match and candidate.name == f"{path.name}.{match.group(1)}":
                rotated.append((int(match.group(1)), candidate))
    files = [file for _, file in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def record_time(record: dict[str, Any]) -> datetime | None:
    """When a record was written (its `time`, UTC), or None when it has none that parses."""
    raw = record.get("time")
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditQuery:
    """Which records to return; every field left as None matches everything."""

    user: str | None = None
    kinds: frozenset[str] | None = None
    thread: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether `record` is one the query asks for."""
        if self.user is not None and record.get("user") != self.user:
            return False
        if self.thread is not None and record.get("thread") != self.thread:
            return False
        if self.kinds is not None and record.get("event") not in self.kinds:
            return False
        if self.since is None and self.until is None:
            return True
        when = record_time(record)
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


@dataclass
class AuditReader:
    """Reads the records of one audit log (all its rotated files) that match a query."""

    path: Path
    skipped: int = field(default=0)
    """Lines that were not JSON objects, in what was read so far."""

    def records(self, query: AuditQuery | None = None) -> Iterator[dict[str, Any]]:
        """Matching records, oldest first; a file rotated away while reading is simply missed, never an error."""
        wanted = query or AuditQuery()
        for file in audit_files(self.path):
            try:
                handle = file.open("r", encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            with handle:
                for line in handle:
                    record = self._parse(line)
                    if record is not None and wanted.matches(record):
                        yield record

    def newest(self, limit: int, query: AuditQuery | None = None) -> list[dict[str, Any]]:
        """The last `limit` matching records, newest first."""
        return list(reversed(deque(self.records(query), maxlen=limit))) if limit > 0 else []

    def _parse(self, line: str) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except ValueError:
            self.skipped += 1
            return None
        if not isinstance(record, dict):
            self.skipped += 1
            return None
        return record
