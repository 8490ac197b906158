"""Whose sandbox a call is for, and the workspace directory that follows from it.

`ThreadRef` names (user, thread, image); everything else (the workspace folder,
container labels, per-user limits) is derived from it. Thread ids are validated
here, once, because they become directory and container names.

A workspace's life: `prepare_workspace` runs before the container builder or the
file tools touch `workspaces/<thread_id>/` (with disk quotas on it mounts the
thread's image, see `sandbox.disk_quota`; otherwise it creates a plain dir), and
`sandbox.cleanup.remove_workspace` is the one way to delete it (unmounting and
deleting the image too), called by thread-delete clean-up and the reconciler.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.disk_quota import human_size, mount_workspace, quotas_enforced, thread_ids_with_disks
from sandbox.errors import InvalidThreadIdError

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_thread_id(thread_id: str) -> str:
    """Refuse ids that could escape `workspaces/` or break a container name."""
    if not isinstance(thread_id, str) or not _THREAD_ID.fullmatch(thread_id) or thread_id in {".", ".."}:
        msg = f"thread id {thread_id!r} cannot name a workspace: use letters, digits, '-', '_' or '.' (at most 128)"
        raise InvalidThreadIdError(msg)
    return thread_id


@dataclass(frozen=True, kw_only=True)
class ThreadRef:
    """One run's sandbox identity: which user, which thread, which image.

    The thread id is validated on construction, so a `ThreadRef` can always name
    a workspace directory and a container.
    """

    user_id: str
    """From the server's authentication (`sandbox.run_context.run_user_id`), never from client input;
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


def prepare_workspace(settings: SandboxSettings, thread_id: str, *, create: bool = True, user_id: str) -> Path:
    """Return `thread_id`'s workspace dir, mounted (quotas on) or created (`create`) as needed.

    `user_id` is the thread's owner: a new workspace counts towards their disk budget.
    With `create=False` a missing workspace stays missing (reads report "not
    found"), but an existing image is mounted again, e.g. after a reboot.
    Raises `WorkspaceDiskError` when a new workspace would pass `SANDBOX_DISK_PER_USER`
    or `SANDBOX_DISK_TOTAL`.
    """
    validate_thread_id(thread_id)
    if quotas_enforced(settings):
        return mount_workspace(settings, thread_id, create=create, user_id=user_id)
    workspace = settings.workspaces_dir / thread_id
    if create:
        create_workspace_dir(workspace, (settings.uid, settings.gid) if os.geteuid() == 0 else None)
    return workspace


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
