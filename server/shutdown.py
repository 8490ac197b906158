"""What the server does last on a graceful stop, after its session containers stopped: unmount idle disks.

Called from the app's lifespan (`server.lifecycle`) in a worker thread (it runs
`umount` and asks Docker). The process gives up its lease here (it is stopping:
another process may now sweep its leftover containers). Only the last server
process sharing the folders unmounts, and only disks no running container uses (`sandbox.disks.release`
says why); a Docker it cannot reach leaves everything mounted, since it cannot
tell which containers still run.
"""

from __future__ import annotations

import logging

from sandbox.containers.in_use import running_sandboxes
from sandbox.coordination.process_lease import other_live_processes, release_lease
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.release import release_idle_disks

logger = logging.getLogger(__name__)


def release_quota_disks() -> int:
    """Unmount the disks of this process's folders that nothing needs any more; how many (blocking)."""
    state = sandbox_process()
    settings = state.settings
    try:
        api = state.deployment.start()
    except Exception:
        logger.exception("Server stopping: could not reach Docker to list running sandboxes, so every disk stays mounted")
        return 0
    # Give the lease up first: of processes stopping together, each drops its lease before it
    # looks for the others, so the last one to look finds none and unmounts.
    release_lease(settings)
    others = other_live_processes(settings)
    if others:
        logger.info("Server stopping: %d other server process(es) share these folders; leaving their disks mounted", len(others))
        return 0
    try:
        in_use = running_sandboxes(api, settings)
    except Exception:
        logger.exception("Server stopping: could not list running sandboxes, so every disk stays mounted")
        return 0
    released = release_idle_disks(settings, in_use)
    if released:
        logger.info("Server stopping: unmounted %d idle disk image(s)", len(released))
    return len(released)
