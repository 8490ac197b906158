"""A stored thread paused at one `execute` approval, as the servers report it, for tests of the resume check.

The resume check (`server.approval_checks`) reads the thread it is asked about
through `read_thread`; tests that exercise it without a server point that at
`read_pending_thread`, which knows this one thread (`t1`, owned by `alice`).
"""

from __future__ import annotations

from typing import Any

from server.engine import StoredThread, pending_interrupts

INTERRUPT_ID = "c" * 32
THREAD_ID = "t1"
PENDING: dict[str, Any] = {
    "thread_id": THREAD_ID,
    "metadata": {"assistant_id": "a1", "owner": "alice"},
    "interrupts": {
        "task-1": [
            {
                "id": INTERRUPT_ID,
                "value": {
                    "action_requests": [{"name": "execute", "args": {"command": "ls"}}],
                    "review_configs": [{"action_name": "execute", "allowed_decisions": ["approve", "reject"]}],
                },
            }
        ]
    },
}
STORED = StoredThread(THREAD_ID, "alice", PENDING["metadata"], pending_interrupts(PENDING))


async def read_pending_thread(thread_id: str) -> StoredThread | None:
    """`read_thread` of a server that has only the pending thread."""
    return STORED if thread_id == THREAD_ID else None
