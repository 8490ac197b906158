"""Test clean-up: every workspace and memory folder a test creates (mounted quota disks included) is removed.

A workspace with a disk quota is a loop-mounted image, which pytest's tmp-dir
clean-up can neither unmount nor delete; tests remove them the way the server
does, with `sandbox.containers.removal.remove_workspace` and `sandbox.disks.memories.remove_memory_folder`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from sandbox import SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from sandbox.containers.removal import remove_all_workspaces as remove_workspaces
from sandbox.disks.memories import memory_folder_names, remove_memory_folder

__all__ = ["mounts_under", "remove_all_workspaces", "remove_workspaces_under"]


def remove_left_containers(settings: SandboxSettings) -> None:
    """Every container of `settings`' scope, removed before their workspaces.

    Some outlive their server by design: background processes' own containers, and session
    containers where a process runs (a restarted server reattaches them). A stopped server's
    tests are done with them, as with anything a test that stopped early left behind.
    """
    try:
        engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
        engine.ping()
    except DockerException:
        return  # no Docker: no container either
    try:
        for container in engine.containers(all=True, filters=label_filter(labels_for(settings))):
            with contextlib.suppress(NotFound):
                engine.remove_container(container["Id"], force=True)
    finally:
        engine.close()


def remove_all_workspaces(settings: SandboxSettings) -> None:
    """Unmount and delete every workspace and memory folder (and disk image) of `settings`, after its containers."""
    remove_left_containers(settings)
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
