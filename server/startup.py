"""What the server checks and says once at startup, before any run (called from the app's lifespan).

Checks that block (probing a loop mount) run in a worker thread, so the event
loop never blocks.
"""

from __future__ import annotations

from config.env import load_project_dotenv
from config.sandbox import SandboxSettings
from sandbox.disks.disk_quota import quota_problem


def report_disk_quotas() -> None:
    """Probe (and log) whether workspace disk quotas hold on this host: on, or OFF and why."""
    load_project_dotenv()
    quota_problem(SandboxSettings.from_env())
