"""Whose sandbox a call is for, and the workspace directory that follows from it.

`ThreadRef` names (user, thread, image); everything else (the workspace folder,
container labels, per-user limits) is derived from it. Thread ids are validated
here, once (`sandbox.disks.thread_ids`), because they become directory and container
names: one thread, one spelling, one workspace.

A workspace's life: `prepare_workspace` runs before the container builder or the
file tools touch `workspaces/<thread_id>/` (with disk quotas on it mounts the
thread's image, see `sandbox.disks.disk_quota`; otherwise it creates a plain dir), and
`remove_workspace` (here) is the one way to delete it (unmounting and
deleting the image too), called by the removal after a delete or prune, the reconciler, and when
a reused thread id reaches a workspace recorded for another user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sandbox import SandboxSettings
from sandbox.coordination.locks import digest, exclusive_file_lock, lock_subdir
from sandbox.disks.disk_budget import human_size
from sandbox.disks.disk_quota import (
    image_names,
    mount_disk,
    mount_workspace,
    quotas_enforced,
    remove_disk,
    remove_quota_disk,
    thread_ids_with_disks,
)
from sandbox.disks.quota_disks import QuotaDisk, image_path
from sandbox.disks.thread_ids import canonical_thread_id, storage_name
from sandbox.disks.workspace_owner import record_owner, recorded_owner, remove_owner

logger = logging.getLogger(__name__)


def validate_thread_id(thread_id: str) -> str:
    """Refuse ids that could escape `workspaces/`, break a container name, or alias another thread (`sandbox.disks.thread_ids`)."""
    return canonical_thread_id(thread_id)


@dataclass(frozen=True, kw_only=True)
class ThreadRef:
    """One run's sandbox identity: which user, which thread, which image.

    The thread id is validated on construction, so a `ThreadRef` can always name
    a workspace directory and a container.
    """

    user_id: str
    """From the server's authentication (`sandbox.runs.run_context.run_user_id`), never from client input;
    `SINGLE_USER_ID` when no authentication is configured."""
    thread_id: str
    """The LangGraph thread; names `workspaces/<thread_id>/` and the session container."""
    image: str
    """The image this thread's commands run in (`SANDBOX_IMAGE` or the run's `sandbox_image`)."""

    def __post_init__(self) -> None:
        validate_thread_id(self.thread_id)
        if not isinstance(self.user_id, str) or not self.user_id:
            msg = f"user id {self.user_id!r} must be a non-empty string"
            raise ValueError(msg)


def workspace_path(settings: SandboxSettings, thread_id: str) -> Path:
    """`workspaces/<thread_id>/` on the host: the thread's `/workspace`."""
    return settings.workspaces_dir / validate_thread_id(thread_id)


def create_workspace_dir(workspace: Path, owner: tuple[int, int] | None) -> None:
    """Create a thread's workspace (0o700) and hand it to `owner`, unless it already exists.

    Both the file tools and the container runner create it on first use; it must
    exist before Docker would create a bind-mount source as root.
    """
    if workspace.is_dir():
        return
    workspace.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(workspace, 0o700)
    except FileExistsError:
        return
    if owner is not None:
        os.chown(workspace, *owner, follow_symlinks=False)


def ensure_workspace(settings: SandboxSettings, thread_id: str, *, user_id: str) -> Path:
    """Create (or mount) `workspaces/<thread_id>/` for the sandbox user, before Docker would create it as root."""
    return prepare_workspace(settings, thread_id, create=True, user_id=user_id)


def prepare_quota_folder(settings: SandboxSettings, disk: QuotaDisk, *, create: bool, user_id: str) -> Path:
    """Return a bounded folder beside the workspaces (`/memories`, `/artifacts`), mounted or created as needed.

    While quotas are on (and `disk` has a size) it is its own disk image, counted
    towards `user_id`'s disk budget; otherwise a plain 0o700 folder of the sandbox
    user, made only when `create`.
    """
    if disk.size and quotas_enforced(settings):
        return mount_disk(settings, disk, create=create, user_id=user_id)
    if create:
        create_workspace_dir(disk.mount_point, (settings.uid, settings.gid) if os.geteuid() == 0 else None)
    return disk.mount_point


def remove_quota_folder(settings: SandboxSettings, disk: QuotaDisk) -> bool:
    """Delete a bounded folder beside the workspaces (its image too); False when there was neither."""
    had_disk = remove_quota_disk(settings, disk)
    folder = disk.mount_point
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
        return True
    if not folder.exists():
        return had_disk
    shutil.rmtree(folder)
    return True


def folder_names(images_dir: Path, folders_dir: Path) -> set[str]:
    """The names of the folders in `folders_dir` and of the disk images in `images_dir`, mounted or not."""
    found = image_names(images_dir)
    if folders_dir.is_dir():
        found.update(e.name for e in os.scandir(folders_dir) if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    return found


def prepare_workspace(settings: SandboxSettings, thread_id: str, *, create: bool = True, user_id: str) -> Path:
    """Return `thread_id`'s workspace dir, mounted (quotas on) or created (`create`) as needed.

    `user_id` is the thread's owner: a new workspace counts towards their disk budget.
    With `create=False` a missing workspace stays missing (reads report "not
    found"), but an existing image is mounted again, e.g. after a reboot.
    A workspace recorded for another user is removed first (`sandbox.disks.workspace_owner`).
    Raises `WorkspaceDiskError` when a new workspace would pass `SANDBOX_DISK_PER_USER`
    or `SANDBOX_DISK_TOTAL`.
    """
    validate_thread_id(thread_id)
    claim_workspace(settings, thread_id, user_id, create=create)
    if quotas_enforced(settings):
        return mount_workspace(settings, thread_id, create=create, user_id=user_id)
    workspace = settings.workspaces_dir / thread_id
    if create:
        create_workspace_dir(workspace, (settings.uid, settings.gid) if os.geteuid() == 0 else None)
    return workspace


def claim_workspace(settings: SandboxSettings, thread_id: str, user_id: str, *, create: bool) -> None:
    """Make `user_id` the workspace's recorded owner, removing one recorded for another user first.

    The common case (already theirs) reads one small file and takes no lock.
    """
    if recorded_owner(settings, thread_id) == user_id:
        return
    with exclusive_file_lock(lock_subdir(settings, "owners") / f"{digest(thread_id)[:32]}.lock"):
        owner = recorded_owner(settings, thread_id)
        if owner == user_id:
            return
        if owner is not None:
            logger.warning("Thread id %s is used again by another user: removing the previous owner's workspace", thread_id)
            remove_workspace(settings, thread_id)
        if create or (settings.workspaces_dir / thread_id).exists() or image_path(settings, thread_id).exists():
            record_owner(settings, thread_id, user_id)


def _make_removable(function: Callable[..., Any], path: str, exc: BaseException) -> None:
    """`rmtree` hit a folder the sandbox made unwritable (`chmod 000`): open it up and retry once.

    Already gone is fine: another server process may be removing the same workspace.
    """
    if isinstance(exc, FileNotFoundError):
        return
    parent = os.path.dirname(path)
    with contextlib.suppress(OSError):
        os.chmod(parent, stat.S_IRWXU, follow_symlinks=False)
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU, follow_symlinks=False)
    function(path)


def remove_workspace(settings: SandboxSettings, thread_id: str) -> bool:
    """Delete `workspaces/<thread_id>/` and everything in it, the thread's `/artifacts` and snapshots; False when there was none.

    This is the one place a workspace is removed, so whatever else a workspace
    becomes (a mounted image) is undone here too. Symlinks inside are removed, never
    followed (`shutil.rmtree` works on directory fds). Any safe name is removable,
    also a non-canonical spelling of a thread id left from before such names were refused.
    """
    from sandbox.disks.artifacts import remove_artifacts  # noqa: PLC0415 - artifacts builds on this module's folders
    from sandbox.snapshots.thread_snapshots import remove_snapshots  # noqa: PLC0415 - snapshots build on this module too

    workspace = settings.workspaces_dir / storage_name(thread_id)
    had_artifacts = remove_artifacts(settings, thread_id)  # deepagents' own files go with the thread
    had_artifacts = remove_snapshots(settings, thread_id) or had_artifacts  # and so do the workspace's snapshots
    had_disk = remove_disk(settings, thread_id) or had_artifacts  # unmount and delete its quota image first
    remove_owner(settings, thread_id)
    if not workspace.exists() and not workspace.is_symlink():
        return had_disk
    if workspace.is_symlink() or not workspace.is_dir():
        workspace.unlink(missing_ok=True)
        return True
    shutil.rmtree(workspace, onexc=_make_removable)
    return True


def workspace_thread_ids(settings: SandboxSettings) -> set[str]:
    """Every thread that has a workspace dir or a disk image, for a reconciler to check."""
    found = thread_ids_with_disks(settings)
    if settings.workspaces_dir.is_dir():
        found.update(e.name for e in os.scandir(settings.workspaces_dir) if e.is_dir(follow_symlinks=False))
    return found


FULL_BELOW_BYTES = 1024**2
"""A quota disk with less free space than this is reported as full after a command."""


def workspace_full_note(settings: SandboxSettings, thread_id: str) -> str | None:
    """A line for the tool result when the thread's quota disk is (nearly) full, else None.

    The shell's own "No space left on device" does not say that a quota is the
    reason, nor how big it is; this line does, so the agent knows to clean up.
    """
    workspace = settings.workspaces_dir / thread_id
    if not os.path.ismount(workspace):
        return None
    st = os.statvfs(workspace)
    if st.f_bavail * st.f_frsize >= FULL_BELOW_BYTES:
        return None
    return (
        f"[/workspace is full: this thread's disk quota of {human_size(settings.disk_quota_bytes)} (SANDBOX_DISK_QUOTA) "
        "is used up, so writes fail with 'No space left on device'; delete files you no longer need]"
    )
