"""Test clean-up: every workspace a test creates (mounted quota disks included) is removed.

A workspace with a disk quota is a loop-mounted image, which pytest's tmp-dir
clean-up can neither unmount nor delete; tests remove them the way the server
does, with `sandbox.cleanup.remove_workspace`.
"""

from __future__ import annotations

from pathlib import Path

from sandbox import SandboxSettings
from sandbox.cleanup import remove_all_workspaces

__all__ = ["mounts_under", "remove_all_workspaces", "remove_workspaces_under"]


def remove_workspaces_under(workspaces_dir: Path) -> None:
    """The same for a served test server, known only by its `SANDBOX_WORKSPACES_DIR`."""
    remove_all_workspaces(SandboxSettings(workspaces_dir=workspaces_dir.resolve()))


def mounts_under(root: Path) -> list[str]:
    """Mount points below `root` (from /proc/self/mountinfo): what a test must leave none of."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4] for line in handle]
    return [point for point in points if point.startswith(prefix)]
