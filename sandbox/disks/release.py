"""Unmount the quota disks nobody uses, when the server stops: no loop device outlives what needs it.

A workspace, `/artifacts`, snapshot store or `/memories` image is mounted on first use and
stayed mounted for the life of the host, since nothing unmounted it but thread
removal: a stopped server left every image of every thread it served mounted,
each holding a loop device, and their folders could not be removed. On a
graceful stop (`server.lifecycle`), once its session containers are stopped,
the server unmounts every disk of its folders that nothing uses any more. The
next start needs none of them: each is mounted again by the first command, file
route or container that uses it (`sandbox.disks.disk_quota.mount_disk`).

What stays mounted, on purpose:
- disks of a thread with a running container (any process's; Docker's labels
  say), and the memory disk of a user with one: a container bind-mounts the
  host folder, and a second mount of the same image beside it would corrupt it;
- everything, while another server process sharing these folders still lives
  (its lease says so, `sandbox.coordination.process_lease`): the last one to
  stop unmounts;
- a disk a host process still holds open: it is never detached lazily here,
  so the next mount cannot race a detached one; the log names it.

Loop devices are set up auto-clearing (`mount_calls`): unmounting frees the device, so none is left.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from config.sandbox import SandboxSettings
from sandbox.disks.disk_quota import image_names, locked_image
from sandbox.disks.memories import user_dir_name
from sandbox.disks.mount_calls import unmount
from sandbox.disks.quota_disks import QuotaDisk, artifacts_disk, memories_disk, snapshots_disk, workspace_disk

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InUse:
    """What must stay mounted: threads with a running container, and those containers' users."""

    threads: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()


def mounted_disks(settings: SandboxSettings) -> list[tuple[QuotaDisk, str, str]]:
    """Every quota disk of `settings`' folders that is mounted now: (disk, kind, thread id or memory folder name)."""
    disks = [
        *((workspace_disk(settings, name), "thread", name) for name in image_names(settings.disk_images_dir)),
        *((artifacts_disk(settings, name), "thread", name) for name in image_names(settings.artifacts_images_dir)),
        *((snapshots_disk(settings, name), "thread", name) for name in image_names(settings.snapshots_images_dir)),
        *((memories_disk(settings, name), "memories", name) for name in image_names(settings.memories_images_dir)),
    ]
    return [entry for entry in disks if os.path.ismount(entry[0].mount_point)]


def _needed(kind: str, name: str, in_use: InUse, busy_folders: Iterable[str]) -> bool:
    return name in in_use.threads if kind == "thread" else name in busy_folders


def release_idle_disks(settings: SandboxSettings, in_use: InUse) -> list[QuotaDisk]:
    """Unmount every mounted disk of `settings` that `in_use` does not need; the ones unmounted (blocking)."""
    busy_folders = {user_dir_name(user) for user in in_use.users}
    released: list[QuotaDisk] = []
    for disk, kind, name in mounted_disks(settings):
        if _needed(kind, name, in_use, busy_folders):
            logger.info("Leaving %s mounted: a running sandbox container uses it", disk.what)
            continue
        with locked_image(disk.image):  # its mounts happen under the same lock: none is halfway through
            if not os.path.ismount(disk.mount_point):
                continue
            try:
                unmount(disk.mount_point)  # never lazily: raises while something holds it
            except OSError as exc:
                logger.warning("Leaving %s mounted: %s", disk.what, exc)
                continue
        released.append(disk)
    return released
