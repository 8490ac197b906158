"""Each user's long-term memory: one host folder per user, `/memories` in that user's sandboxes.

deepagents' `memory=` middleware loads `/memories/AGENTS.md` into every new
thread's prompt, and the agent may rewrite it (approval-gated like any write), so
what a user teaches the agent in one conversation reaches all of their later ones
and nobody else's. The folder lives under `SANDBOX_MEMORIES_DIR`, outside every
workspace.

User ids come from the server's authentication (a JWT's `sub`), which may hold any
character, so they never become a path directly: `user_dir_name` maps each one to a
fixed-alphabet name that cannot climb out of `SANDBOX_MEMORIES_DIR`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.disks.disk_quota import remove_quota_disk
from sandbox.disks.quota_disks import memories_disk
from sandbox.disks.workspace import folder_names, prepare_quota_folder

MEMORIES_MOUNT = "/memories"
"""Where a user's memory folder appears to the file tools and the shell."""

MEMORY_FILE = f"{MEMORIES_MOUNT}/AGENTS.md"
"""The file deepagents loads into each new thread's prompt."""

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 40
_HASH_HEX = 32


def user_dir_name(user_id: str) -> str:
    """A folder name for `user_id`: a readable slug plus a hash of the exact id.

    The slug (lowercase letters, digits, hyphens) only helps an operator find a
    folder; the 128-bit hash of the id's exact UTF-8 bytes keeps `Alice`, `alice`
    and `a/lice` apart. The result matches `^[a-z0-9]+(-[a-z0-9]+)*$`, so it is
    never empty, `.`, `..`, or a path.
    """
    if not isinstance(user_id, str) or not user_id:
        msg = f"user id {user_id!r} must be a non-empty string"
        raise ValueError(msg)
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    slug = _SLUG_CHARS.sub("-", user_id.lower())[:_SLUG_MAX].strip("-")
    return f"{slug or 'user'}-{digest}"


def memories_path(settings: SandboxSettings, user_id: str) -> Path:
    """`<SANDBOX_MEMORIES_DIR>/<user_dir_name(user_id)>/` on the host: that user's `/memories`."""
    return settings.memories_dir / user_dir_name(user_id)


def prepare_memories(settings: SandboxSettings, user_id: str, *, create: bool) -> Path:
    """Return the user's memory folder, mounted (quotas on) or created (`create`) as needed.

    Like a workspace (`sandbox.disks.workspace.prepare_workspace`): with disk quotas on it
    is its own `SANDBOX_MEMORIES_QUOTA` ext4 image; otherwise a plain 0o700 folder
    of the sandbox user. With `create=False` a missing folder stays missing, so a
    user without memories reads as "not found".
    """
    return prepare_quota_folder(settings, memories_disk(settings, user_dir_name(user_id)), create=create, user_id=user_id)


def ensure_memories(settings: SandboxSettings, user_id: str) -> Path:
    """Create (or mount) the user's memory folder, before Docker would create it as root."""
    return prepare_memories(settings, user_id, create=True)


def memory_folder_names(settings: SandboxSettings) -> set[str]:
    """Every memory folder (by its folder name) that has a directory or a disk image."""
    return folder_names(settings.memories_images_dir, settings.memories_dir)


def remove_memory_folder(settings: SandboxSettings, folder_name: str) -> None:
    """Delete one memory folder for good (its disk image too); only once no container of that user runs."""
    disk = memories_disk(settings, folder_name)
    remove_quota_disk(settings, disk)  # unmount and delete its quota image first
    if disk.mount_point.is_symlink() or disk.mount_point.is_file():
        disk.mount_point.unlink()
    elif disk.mount_point.exists():
        shutil.rmtree(disk.mount_point)
