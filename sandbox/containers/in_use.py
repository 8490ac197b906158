"""Which threads and users have a running sandbox container now, by Docker's labels (any process's).

A pooled container's thread and user are in its claim, not its labels (`pool_claims.identity`).

Their disks must stay mounted: a container bind-mounts its workspace, artifacts
and memory folders from the host (`sandbox.disks.release`).
"""

from __future__ import annotations

from typing import Any

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from sandbox.containers.pool_claims import identity
from sandbox.disks.release import InUse


def running_sandboxes(api: Any, settings: SandboxSettings) -> InUse:
    """Threads and users of this workspaces scope's running containers (both modes, every process)."""
    threads, users = set(), set()
    for item in api.containers(filters=label_filter(labels_for(settings))):
        thread_id, user_id = identity(settings, item.get("Labels") or {})
        if thread_id:
            threads.add(thread_id)
        if user_id:
            users.add(user_id)
    return InUse(threads=frozenset(threads), users=frozenset(users))
