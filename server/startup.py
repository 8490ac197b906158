"""What the server checks and says once at startup, before any run (called from the app's lifespan).

Checks that block (probing a loop mount) run in a worker thread, so the event
loop never blocks.
"""

from __future__ import annotations

from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.disk_quota import quota_problem


def report_disk_quotas() -> None:
    """Probe (and log) whether workspace disk quotas hold on this host: on, or OFF and why."""
    quota_problem(sandbox_process().settings)
