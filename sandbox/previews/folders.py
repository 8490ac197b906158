"""The host folder each thread's preview sockets live in, mounted at `/run/previews` in its containers.

One folder per thread, beside `workspaces/` (`<SANDBOX_WORKSPACES_DIR>.previews/<thread_id>/`),
never inside anything else a sandbox mounts, so one thread's sandbox cannot
create a socket another thread's links would reach. Owned by the sandbox user
(its relays create sockets there), private to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.disks.thread_ids import canonical_thread_id, storage_name

PREVIEWS_MOUNT = "/run/previews"
"""Where the thread's preview folder is inside its containers."""


def previews_root(settings: SandboxSettings) -> Path:
    """`<SANDBOX_WORKSPACES_DIR>.previews/`: next to `workspaces/`, outside every folder a sandbox mounts."""
    return settings.workspaces_dir.with_name(settings.workspaces_dir.name + ".previews")


def previews_path(settings: SandboxSettings, thread_id: str) -> Path:
    """The thread's preview folder on the host."""
    return previews_root(settings) / canonical_thread_id(thread_id)


def socket_name(port: int) -> str:
    """The relay socket of one port, inside the thread's folder."""
    return f"{port}.sock"


def ensure_previews(settings: SandboxSettings, thread_id: str) -> Path:
    """Create the thread's folder (before Docker would create it as root), owned by the sandbox user, mode 0700."""
    root = previews_root(settings)
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    folder = previews_path(settings, thread_id)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if folder.is_symlink() or not folder.is_dir():
        msg = f"{folder} is not a folder"
        raise NotADirectoryError(msg)
    if os.geteuid() == 0:
        os.chown(folder, settings.uid, settings.gid, follow_symlinks=False)
    return folder


def remove_previews(settings: SandboxSettings, thread_id: str) -> None:
    """Delete a removed thread's preview folder (its sockets are dead with its containers)."""
    folder = previews_root(settings) / storage_name(thread_id)
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
