"""The audit log: one JSON line per executed command, MCP tool call, approval decision, file change and admin action.

Written to `SANDBOX_AUDIT_LOG` by the sandbox backend (commands, and the files
deepagents writes under `/artifacts` by itself, see `sandbox.disks.artifacts`), by the
server's auth module (decisions), by the web client's file routes (uploads,
deletes, renames) and by the admin routes (stops), through this one writer, so
all share a format: `RECORD_FIELDS` below is the schema, docs/audit.md explains it.
Lines are appended with `O_APPEND` in a single `write`, so several threads and
processes can share one file; the file is created `0600`. A failing audit write
is logged loudly but never breaks the agent's tool call.

Rotation: once the file would pass `SANDBOX_AUDIT_MAX_BYTES`, it becomes
`audit.jsonl.1` (older ones shift up to `.N`, `SANDBOX_AUDIT_KEEP` of them are
kept). Writers reopen the file for every line, so a rename never strands one;
the rename itself happens under a file lock after re-checking the size, so two
processes never rotate the same file twice. `sandbox.runs.audit_read` reads
the rotated files back in order.

Command lines record what ran, not its output; decisions record a SHA-256
digest of the tool arguments rather than the arguments (file contents can be
large or secret), which is enough to match a decision to what it approved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import exclusive_file_lock
from sandbox.coordination.process_state import sandbox_process
from sandbox.runs.log_context import current_fields

logger = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 16_384
"""Longer commands are cut in the log (and flagged), so one command cannot bloat it."""

COMMON_FIELDS = ("time", "event", "user", "thread")
"""Fields of every record: when (UTC, ISO 8601), which kind, whose, which thread (admin records: the container's)."""

RECORD_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "command": ("run", "command_id", "command", "command_truncated", "exit_code", "duration_ms", "error"),
        "approval": ("run", "tool", "arguments_digest", "decision", "edited_arguments_digest"),
        "artifact": ("run", "command_id", "path", "bytes", "operation"),
        "file": ("operation", "path", "to", "bytes", "error"),
        "admin": ("operation", "container", "owner", "error"),
        "mcp": ("run", "server", "tool", "arguments_digest", "duration_ms", "error"),
    }
)
"""The schema: each record kind (`event`) and the fields it may carry beyond `COMMON_FIELDS`
(the optional ones are left off when unknown). docs/audit.md documents each; a test keeps both in step."""


def arguments_digest(arguments: Any) -> str:
    """`sha256:<hex>` of the arguments as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rotated_path(path: Path, number: int) -> Path:
    """The `number`th rotated file of `path` (`audit.jsonl.1` is the newest rotated one)."""
    return path.with_name(f"{path.name}.{number}")


def _in_run() -> dict[str, str]:
    """The run and command this record belongs to, when written inside one (see `sandbox.runs.log_context`)."""
    fields = current_fields()
    return {key: fields[name] for key, name in (("run", "run_id"), ("command_id", "command_id")) if name in fields}


class AuditLog:
    """Appends audit records to one JSON-lines file, rotating it past `max_bytes` and keeping `keep` old ones."""

    def __init__(self, path: Path, *, max_bytes: int = 64 * 1024**2, keep: int = 10) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()

    def _full(self, incoming: int) -> bool:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        return size > 0 and size + incoming > self.max_bytes

    def _rotate_if_full(self, incoming: int) -> None:
        """Shift `path` to `.1` (and each `.n` to `.n+1`, dropping past `keep`) when the next line would pass the limit."""
        if not self._full(incoming):
            return
        with exclusive_file_lock(self.path.with_name(self.path.name + ".lock")):
            if not self._full(incoming):  # another process rotated it meanwhile
                return
            rotated_path(self.path, self.keep + 1).unlink(missing_ok=True)
            for number in range(self.keep, 0, -1):
                older = rotated_path(self.path, number)
                if older.exists():
                    if number == self.keep:
                        older.unlink()
                    else:
                        older.rename(rotated_path(self.path, number + 1))
            self.path.rename(rotated_path(self.path, 1))

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (with `time` added) as one line; errors are logged, not raised."""
        line = json.dumps({"time": _now(), **record}, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._rotate_if_full(len(line.encode("utf-8")))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
        except OSError:
            logger.exception("AUDIT LOG WRITE FAILED (%s): %s", self.path, line.strip())

    def command(
        self,
        *,
        user_id: str,
        thread_id: str,
        command: str,
        exit_code: int | None,
        duration_ms: float,
        error: str | None = None,
        command_id: str | None = None,
    ) -> None:
        """One executed (or attempted) sandbox command, with the id its log lines carry."""
        record: dict[str, Any] = {
            "event": "command",
            "user": user_id,
            "thread": thread_id,
            **_in_run(),
            **({"command_id": command_id} if command_id else {}),
            "command": command[:MAX_COMMAND_CHARS],
            "exit_code": exit_code,
            "duration_ms": round(duration_ms, 1),
        }
        if len(command) > MAX_COMMAND_CHARS:
            record["command_truncated"] = True
        if error is not None:
            record["error"] = error
        self.append(record)

    def artifact(self, *, user_id: str, thread_id: str, path: str, size: int | None, operation: str) -> None:
        """One file deepagents wrote under `/artifacts` on its own (no tool call asked for it), or an approved command captured there."""
        record: dict[str, Any] = {"event": "artifact", "user": user_id, "thread": thread_id, **_in_run()}
        record |= {"path": path, "operation": operation}
        if size is not None:
            record["bytes"] = size
        self.append(record)

    def decision(self, *, user_id: str, thread_id: str, tool: str, arguments: Any, decision: str, edited_arguments: Any = None) -> None:
        """One reviewer decision on one gated tool call."""
        record: dict[str, Any] = {
            "event": "approval",
            "user": user_id,
            "thread": thread_id,
            **{key: value for key, value in _in_run().items() if key == "run"},
            "tool": tool,
            "arguments_digest": arguments_digest(arguments),
            "decision": decision,
        }
        if edited_arguments is not None:
            record["edited_arguments_digest"] = arguments_digest(edited_arguments)
        self.append(record)

    def mcp_call(
        self, *, user_id: str, thread_id: str, server: str, tool: str, arguments: Any, duration_ms: float, error: str | None = None
    ) -> None:
        """One call of an MCP server's tool (`sandbox.mcp`): which, with a digest of its arguments, and how it ended."""
        record: dict[str, Any] = {
            "event": "mcp",
            "user": user_id,
            "thread": thread_id,
            **{key: value for key, value in _in_run().items() if key == "run"},
            "server": server,
            "tool": tool,
            "arguments_digest": arguments_digest(arguments),
            "duration_ms": round(duration_ms, 1),
        }
        if error is not None:
            record["error"] = error
        self.append(record)


def audit_log(settings: SandboxSettings) -> AuditLog:
    """The process's writer for `SANDBOX_AUDIT_LOG` (one lock per file), rotating as the settings say."""
    path = settings.audit_log
    state = sandbox_process()
    with state.audit_lock:
        log = state.audit_logs.get(path)
        if log is None or (log.max_bytes, log.keep) != (settings.audit_max_bytes, settings.audit_keep):
            log = state.audit_logs[path] = AuditLog(path, max_bytes=settings.audit_max_bytes, keep=settings.audit_keep)
        return log
