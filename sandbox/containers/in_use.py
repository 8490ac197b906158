"""Which threads and users have a running sandbox container now, by Docker's labels (any process's).

Their disks must stay mounted: a container bind-mounts its workspace, artifacts
and memory folders from the host (`sandbox.disks.release`).
"""

from __future__ import annotations

from typing import Any

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_THREAD, LABEL_USER, label_filter, labels_for
from sandbox.disks.release import InUse


def running_sandboxes(api: Any, settings: SandboxSettings) -> InUse:
    """Threads and users of this workspaces scope's running containers (both modes, every process)."""
    threads, users = set(), set()
    for item in api.containers(filters=label_filter(labels_for(settings))):
        labels = item.get("Labels") or {}
        if labels.get(LABEL_THREAD):
            threads.add(labels[LABEL_THREAD])
        if labels.get(LABEL_USER):
            users.add(labels[LABEL_USER])
    return InUse(threads=frozenset(threads), users=frozenset(users))
