"""Test clean-up: every workspace and memory folder a test creates (mounted quota disks included) is removed.

A workspace with a disk quota is a loop-mounted image, which pytest's tmp-dir
clean-up can neither unmount nor delete; tests remove them the way the server
does, with `sandbox.containers.removal.remove_workspace` and `sandbox.disks.memories.remove_memory_folder`.
"""

from __future__ import annotations

from pathlib import Path

from sandbox import SandboxSettings
from sandbox.containers.removal import remove_all_workspaces as remove_workspaces
from sandbox.disks.memories import memory_folder_names, remove_memory_folder

__all__ = ["mounts_under", "remove_all_workspaces", "remove_workspaces_under"]


def remove_all_workspaces(settings: SandboxSettings) -> None:
    """Unmount and delete every workspace and memory folder (and disk image) of `settings`."""
    remove_workspaces(settings)
    for folder_name in sorted(memory_folder_names(settings)):
        remove_memory_folder(settings, folder_name)


def remove_workspaces_under(workspaces_dir: Path, memories_dir: Path) -> None:
    """The same for a served test server, known by its `SANDBOX_WORKSPACES_DIR` and `SANDBOX_MEMORIES_DIR`."""
    remove_all_workspaces(SandboxSettings(workspaces_dir=workspaces_dir.resolve(), memories_dir=memories_dir.resolve()))


def mounts_under(root: Path) -> list[str]:
    """Mount points below `root` (from /proc/self/mountinfo): what a test must leave none of."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle]
    return [point for point in points if point.startswith(prefix)]
