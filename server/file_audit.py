"""One audit record per change the web client makes to a workspace by hand: upload, delete, rename.

A change the owner made in the files panel is accounted for like one the agent
made after an approval: same log (`SANDBOX_AUDIT_LOG`), kind `file`
(`{"operation": "upload" | "delete" | "rename", "path", "to"?, "bytes"?, "error"?}`,
docs/audit.md). The write blocks on the file system, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sandbox.coordination.process_state import sandbox_process
from sandbox.runs.audit import audit_log
from server.thread_access import CallerThread


async def audit_file_change(caller: CallerThread, record: dict[str, Any]) -> None:
    """Append one `file` record for `caller`'s change to their thread's workspace."""
    log = audit_log(sandbox_process().settings)
    await asyncio.to_thread(log.append, {"event": "file", "user": caller.user_id, "thread": caller.thread_id, **record})
