"""Whose sandbox a call is for, and the workspace directory that follows from it.

`ThreadRef` names (user, thread, image); everything else (the workspace folder,
container labels, per-user limits) is derived from it. Thread ids are validated
here, once, because they become directory and container names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
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
    """From the server's authentication (`langgraph_auth_user_id`), never from client input;
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


def ensure_workspace(settings: SandboxSettings, thread_id: str) -> Path:
    """Create `workspaces/<thread_id>/` owned by the sandbox user, before Docker would create it as root."""
    workspace = workspace_path(settings, thread_id)
    create_workspace_dir(workspace, (settings.uid, settings.gid) if os.geteuid() == 0 else None)
    return workspace
