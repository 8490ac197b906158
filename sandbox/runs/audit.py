"""The audit log: one JSON line per executed command, per approval decision, and per artifact.

Written to `SANDBOX_AUDIT_LOG` by the sandbox backend (commands, and the files
deepagents writes under `/artifacts` by itself, see `sandbox.disks.artifacts`) and by the
server's auth module (decisions), through this one writer, so all share a
format. Lines are appended with `O_APPEND` in a single `write`, so several
threads and processes can share one file; the file is created `0600`. A
failing audit write is logged loudly but never breaks the agent's tool call.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.coordination.process_state import sandbox_process

logger = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 16_384
"""Longer commands are cut in the log (and flagged), so one command cannot bloat it."""


def arguments_digest(arguments: Any) -> str:
    """`sha256:<hex>` of the arguments as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends audit records to one JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (with `time` added) as one line; errors are logged, not raised."""
        line = json.dumps({"time": _now(), **record}, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
        except OSError:
            logger.exception("AUDIT LOG WRITE FAILED (%s): %s", self.path, line.strip())

    def command(
        self, *, user_id: str, thread_id: str, command: str, exit_code: int | None, duration_ms: float, error: str | None = None
    ) -> None:
        """One executed (or attempted) sandbox command."""
        record: dict[str, Any] = {
            "event": "command",
            "user": user_id,
            "thread": thread_id,
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
        record: dict[str, Any] = {"event": "artifact", "user": user_id, "thread": thread_id, "path": path, "operation": operation}
        if size is not None:
            record["bytes"] = size
        self.append(record)

    def decision(self, *, user_id: str, thread_id: str, tool: str, arguments: Any, decision: str, edited_arguments: Any = None) -> None:
        """One reviewer decision on one gated tool call."""
        record: dict[str, Any] = {
            "event": "approval",
            "user": user_id,
            "thread": thread_id,
            "tool": tool,
            "arguments_digest": arguments_digest(arguments),
            "decision": decision,
        }
        if edited_arguments is not None:
            record["edited_arguments_digest"] = arguments_digest(edited_arguments)
        self.append(record)


def audit_log(path: Path) -> AuditLog:
    """The process's writer for `path` (one lock per file)."""
    state = sandbox_process()
    with state.audit_lock:
        if path not in state.audit_logs:
            state.audit_logs[path] = AuditLog(path)
        return state.audit_logs[path]
