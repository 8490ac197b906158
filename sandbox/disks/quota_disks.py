"""Where each kind of quota disk lives: a thread's workspace, artifacts and snapshot store, a user's memories.

One place names every kind, so what mounts, counts, releases and removes disks
(`sandbox.disks.disk_quota`, `disk_budget`, `release`) sees all of them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.disks.disk_budget import IMAGE_SUFFIX


def image_path(settings: SandboxSettings, thread_id: str) -> Path:
    """The image file that holds `thread_id`'s workspace."""
    return settings.disk_images_dir / f"{thread_id}{IMAGE_SUFFIX}"


@dataclass(frozen=True)
class QuotaDisk:
    """One bounded folder: `mount_point` is where the `size`-byte ext4 `image` is mounted."""

    mount_point: Path
    image: Path
    size: int
    setting: str
    """The variable that sets `size`, for messages."""
    what: str
    """What the folder is, for messages and logs (`the workspace of thread t-1`)."""


def workspace_disk(settings: SandboxSettings, thread_id: str) -> QuotaDisk:
    """The disk of `thread_id`'s `/workspace` (the thread id must already be validated)."""
    return QuotaDisk(
        mount_point=settings.workspaces_dir / thread_id,
        image=image_path(settings, thread_id),
        size=settings.disk_quota_bytes,
        setting="SANDBOX_DISK_QUOTA",
        what=f"the workspace of thread {thread_id}",
    )


def artifacts_disk(settings: SandboxSettings, thread_id: str) -> QuotaDisk:
    """The disk of `thread_id`'s `/artifacts` (the thread id must already be validated)."""
    return QuotaDisk(
        mount_point=settings.artifacts_dir / thread_id,
        image=settings.artifacts_images_dir / f"{thread_id}{IMAGE_SUFFIX}",
        size=settings.artifacts_quota_bytes,
        setting="SANDBOX_ARTIFACTS_QUOTA",
        what=f"the artifacts of thread {thread_id}",
    )


def memories_disk(settings: SandboxSettings, folder_name: str) -> QuotaDisk:
    """The disk of one user's `/memories`; `folder_name` is already a safe name (`sandbox.disks.memories`)."""
    return QuotaDisk(
        mount_point=settings.memories_dir / folder_name,
        image=settings.memories_images_dir / f"{folder_name}{IMAGE_SUFFIX}",
        size=settings.memories_quota_bytes,
        setting="SANDBOX_MEMORIES_QUOTA",
        what=f"the memory folder {folder_name}",
    )


def snapshots_disk(settings: SandboxSettings, thread_id: str) -> QuotaDisk:
    """The disk of `thread_id`'s workspace snapshot store (the thread id must already be validated)."""
    return QuotaDisk(
        mount_point=settings.snapshots_dir / thread_id,
        image=settings.snapshots_images_dir / f"{thread_id}{IMAGE_SUFFIX}",
        size=settings.snapshot_quota_bytes,
        setting="SANDBOX_SNAPSHOT_QUOTA",
        what=f"the workspace snapshots of thread {thread_id}",
    )
