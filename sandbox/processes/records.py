"""What the host keeps per background process: a JSON record and a bounded output file.

Both live in `<workspaces>.processes/<thread id>/`, beside the workspaces and never
inside one (the sandbox cannot touch them, and they survive its container and a
server restart). The output file keeps at most `SANDBOX_PROCESS_OUTPUT_BYTES`:
past it the oldest bytes are dropped, and the record counts them (`dropped`), so
byte offsets stay absolute and a reader asking for dropped output is told so.
Every change is made under the thread's lock file, whichever server process makes it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import exclusive_file_lock, lock_subdir, unlink_unheld
from sandbox.disks.thread_ids import storage_name

ProcessState = Literal["running", "ended"]

PROCESS_ID_PREFIX = "p"


def new_process_id() -> str:
    """A short id, unique within a thread (and unguessable, though routes check ownership anyway)."""
    return PROCESS_ID_PREFIX + secrets.token_hex(6)


def valid_process_id(raw: str) -> bool:
    """Whether `raw` can name a process (so it can name a file): `p` and twelve hex digits."""
    rest = raw[len(PROCESS_ID_PREFIX) :]
    return raw.startswith(PROCESS_ID_PREFIX) and len(rest) == 12 and all(c in "0123456789abcdef" for c in rest)


@dataclass(frozen=True)
class ProcessRecord:
    """One background process, as the host last saw it."""

    process_id: str
    thread_id: str
    user_id: str
    command: str
    container_id: str
    own_container: bool
    """Ephemeral mode: the process has a container of its own, removed when it ends."""
    started_at: float
    state: ProcessState = "running"
    exit_code: int | None = None
    ended_at: float | None = None
    end_reason: str = ""
    read: int = 0
    """Bytes of output copied from the container so far (the next one to copy, 0-based)."""
    dropped: int = 0
    """Oldest bytes no longer kept in the host's output file."""
    last_activity: float = field(default=0.0)
    """Last output, input or look by the agent or a client; the idle TTL counts from it."""

    def public(self) -> dict[str, object]:
        """What tools and routes show: no container ids or user ids."""
        return {
            "process_id": self.process_id,
            "thread_id": self.thread_id,
            "command": self.command,
            "state": self.state,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "output_bytes": self.read,
        }


def processes_root(settings: SandboxSettings) -> Path:
    """`<workspaces>.processes`: beside the workspaces, never mounted into a sandbox."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".processes")


class ProcessRecords:
    """The host's records and output files of every thread's processes."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.root = processes_root(settings)

    def _dir(self, thread_id: str) -> Path:
        return self.root / storage_name(thread_id)

    @contextlib.contextmanager
    def locked(self, thread_id: str) -> Iterator[None]:
        """The thread's processes change one writer at a time, across server processes."""
        with exclusive_file_lock(lock_subdir(self.settings, "processes") / f"{storage_name(thread_id)}.lock"):
            yield

    def save(self, record: ProcessRecord, *, new: bool = False) -> None:
        """Write `record` atomically (a reader never sees half a record).

        Only a `new` record makes the thread's folder: an update that lands after the
        thread's records were removed (a sync racing a thread delete) is dropped.
        """
        folder = self._dir(record.thread_id)
        if new:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not folder.is_dir():
            return
        part = folder / f"{record.process_id}.json.part"
        part.write_text(json.dumps(asdict(record)), encoding="utf-8")
        part.replace(folder / f"{record.process_id}.json")

    def get(self, thread_id: str, process_id: str) -> ProcessRecord | None:
        """The record, or None for an unknown (or malformed) id."""
        if not valid_process_id(process_id):
            return None
        try:
            data = json.loads((self._dir(thread_id) / f"{process_id}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return ProcessRecord(**data)

    def of_thread(self, thread_id: str) -> list[ProcessRecord]:
        """The thread's processes, oldest first."""
        folder = self._dir(thread_id)
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        found = [r for r in (self.get(thread_id, name) for name in names) if r is not None]
        return sorted(found, key=lambda r: r.started_at)

    def all_running(self) -> list[ProcessRecord]:
        """Every thread's processes recorded as running (per-user caps, idle stops, restarts)."""
        if not self.root.is_dir():
            return []
        return [r for folder in sorted(self.root.iterdir()) for r in self.of_thread(folder.name) if r.state == "running"]

    def append_output(self, record: ProcessRecord, data: bytes) -> ProcessRecord:
        """Append `data` to the bounded output file; the record with `read` and `dropped` moved on (not saved)."""
        path = self._dir(record.thread_id) / f"{record.process_id}.log"
        cap = self.settings.process_output_bytes
        kept = path.stat().st_size if path.exists() else 0
        if kept + len(data) <= cap:
            with path.open("ab") as out:
                out.write(data)
            return replace(record, read=record.read + len(data))
        whole = (path.read_bytes() if kept else b"") + data
        part = path.with_suffix(".log.part")
        part.write_bytes(whole[-cap:])
        part.replace(path)
        return replace(record, read=record.read + len(data), dropped=record.dropped + len(whole) - cap)

    def output(self, record: ProcessRecord, since: int, limit: int) -> tuple[bytes, int, int]:
        """Up to `limit` bytes of output from absolute offset `since`: (data, the offset it starts at, the next offset)."""
        start = max(since, record.dropped)
        if start >= record.read:
            return b"", record.read, record.read
        path = self._dir(record.thread_id) / f"{record.process_id}.log"
        try:
            with path.open("rb") as source:
                source.seek(start - record.dropped)
                data = source.read(limit)
        except FileNotFoundError:
            return b"", record.read, record.read
        return data, start, start + len(data)

    def remove_thread(self, thread_id: str) -> None:
        """Forget a deleted thread's processes (their containers are gone with the thread)."""
        shutil.rmtree(self._dir(thread_id), ignore_errors=True)
        unlink_unheld(lock_subdir(self.settings, "processes") / f"{storage_name(thread_id)}.lock")


def now() -> float:
    """Seconds since the epoch (records are read by other processes and after restarts)."""
    return time.time()
