"""Removing what threads leave behind: their containers and their workspaces.

The sandbox knows containers (by label) and workspace folders, but not whether a
thread still exists; the server does. So this module offers listing and removal,
and `server/lifecycle.py` decides what to remove: a deleted thread's sandboxes at
once, orphans after a grace period, stopped session containers after
`SANDBOX_RETENTION`. Docker labels are the source of truth, so every function
works the same from any process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_MODE, label_filter, labels_for
from sandbox.containers.deployment import forget_thread_everywhere
from sandbox.containers.docker_api import engine_id
from sandbox.containers.pool_claims import LABEL_POOL, identity, release, remove_pool_mounts
from sandbox.containers.start_lock import remove_thread_start_lock
from sandbox.coordination import thread_use
from sandbox.disks.artifacts import artifact_thread_ids
from sandbox.disks.disk_quota import image_names
from sandbox.disks.quota_disks import image_path
from sandbox.disks.thread_ids import storage_name
from sandbox.disks.workspace import remove_workspace, workspace_thread_ids
from sandbox.previews.folders import remove_previews

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxContainer:
    """One of our containers, as Docker's labels and state describe it."""

    container_id: str
    thread_id: str
    mode: str
    running: bool
    created: float
    """Seconds since the epoch."""
    slot: str = ""
    """A pooled container's slot: its thread comes from its claim ("" while nobody took it), its folders are bound by the pool."""


def list_containers(api: Any, settings: SandboxSettings, *, thread_id: str | None = None) -> list[SandboxContainer]:
    """Every container of this workspaces scope (optionally of one thread), running or not.

    A pooled container counts for the thread that took it (`sandbox.containers.pool_claims`).
    """
    found = []
    for item in api.containers(all=True, filters=label_filter(labels_for(settings))):
        labels = item.get("Labels") or {}
        container = SandboxContainer(
            container_id=item["Id"],
            thread_id=identity(settings, labels)[0],
            mode=labels.get(LABEL_MODE, ""),
            running=item.get("State") == "running",
            created=float(item.get("Created") or 0),
            slot=labels.get(LABEL_POOL, ""),
        )
        if thread_id is None or container.thread_id == thread_id:
            found.append(container)
    return found


def remove_sandbox_container(api: Any, settings: SandboxSettings, container: SandboxContainer) -> bool:
    """`remove_container`, and for a pooled one unbinding its folders after it (before its workspace may go)."""
    removed = remove_container(api, container.container_id)
    if container.slot:
        release(settings, container.slot)
    return removed


def remove_container(api: Any, container_id: str) -> bool:
    """Force-remove one container; False when it was already gone (or another process is removing it)."""
    try:
        api.remove_container(container_id, force=True)
    except NotFound:
        return False
    except APIError as exc:
        if exc.status_code == 409 and "already in progress" in str(exc):
            return False
        raise
    return True


def remove_thread_containers(api: Any, settings: SandboxSettings, thread_id: str) -> int:
    """Remove every container of `thread_id` (both modes, running or not); how many were removed."""
    storage_name(thread_id)
    return sum(remove_sandbox_container(api, settings, c) for c in list_containers(api, settings, thread_id=thread_id))


def remove_all_workspaces(settings: SandboxSettings) -> None:
    """`remove_workspace` for every workspace (folder or disk image) under `settings` (tests, benchmarks)."""
    remove_pool_mounts(settings)  # a bind left in a pooled container's slot would keep a disk image busy
    for thread_id in sorted(workspace_thread_ids(settings) | artifact_thread_ids(settings)):
        remove_workspace(settings, thread_id)


def workspace_ages(settings: SandboxSettings, now: float | None = None) -> dict[str, float]:
    """Seconds since each thread's workspace or `/artifacts` folder last changed, by thread id (hidden entries skipped).

    A thread may have artifacts and no workspace (deepagents evicted a result
    before any command ran), so both folders count; the younger one wins.
    """
    now = time.time() if now is None else now
    ages: dict[str, float] = {}
    for folder in (settings.workspaces_dir, settings.artifacts_dir):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):
                age = now - entry.stat(follow_symlinks=False).st_mtime
                ages[entry.name] = min(age, ages.get(entry.name, age))
    return ages


def storage_ages(settings: SandboxSettings, now: float | None = None) -> dict[str, float]:
    """`workspace_ages`, plus disk images (a workspace image without its folder too); the younger of the two counts."""
    now = time.time() if now is None else now
    ages = workspace_ages(settings, now)
    for name in image_names(settings.disk_images_dir):
        with contextlib.suppress(FileNotFoundError):
            age = now - image_path(settings, name).stat().st_mtime
            ages[name] = min(age, ages.get(name, age))
    return ages


def _stopped_at(api: Any, container_id: str) -> float | None:
    """When a stopped container stopped (seconds since the epoch); None if running, unknown or gone."""
    try:
        state = api.inspect_container(container_id)["State"]
    except NotFound:
        return None
    finished = state.get("FinishedAt") or ""
    if state.get("Running") or not finished or finished.startswith("0001-"):
        return None
    # Docker reports nanoseconds ("2026-11-25T23:41:07.123456789Z"); keep microseconds.
    head, _, fraction = finished.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]}+00:00").timestamp()


def remove_expired_sessions(api: Any, settings: SandboxSettings, now: float | None = None) -> list[str]:
    """Remove session containers stopped for longer than `SANDBOX_RETENTION`; their thread ids.

    Only the container goes: the workspace stays until its thread is deleted. A
    container whose thread is starting a command in any server process is kept
    (`thread_use.unused`), and its state is read again under that lock.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    stopped = [c for c in list_containers(api, settings) if c.mode == "session" and not c.running and c.thread_id]
    if not stopped:
        return removed
    engine = engine_id(api)
    for container in stopped:
        with thread_use.unused(settings, engine, container.thread_id) as idle:
            if idle is None:
                continue
            stopped_at = _stopped_at(api, container.container_id)
            if stopped_at is None or now - stopped_at < settings.retention_seconds:
                continue
            try:
                if remove_sandbox_container(api, settings, container):
                    logger.info(
                        "Removed session sandbox %s of thread %s: stopped longer than SANDBOX_RETENTION",
                        container.container_id[:12],
                        container.thread_id,
                    )
                    removed.append(container.thread_id)
            except APIError:
                logger.exception("Could not remove stopped session sandbox %s", container.container_id[:12])
    return removed


def remove_thread(api: Any, settings: SandboxSettings, thread_id: str) -> tuple[int, bool]:
    """Remove a thread's containers, then its workspace: (containers removed, workspace removed).

    Works from any server process: containers are found by label, in use or not
    (the thread is gone). Deployments in this process forget the thread first, so
    none of them hands out a container id that is about to disappear; other
    processes find theirs gone at their next exec.
    """
    forget_thread_everywhere(thread_id)
    containers = remove_thread_containers(api, settings, thread_id)
    thread_use.remove_use_files(settings, thread_id)
    remove_thread_start_lock(settings, thread_id)
    remove_previews(settings, thread_id)
    return containers, remove_workspace(settings, thread_id)
