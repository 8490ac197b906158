"""How full a served server's warm pool is, read the way any process reads it: Docker labels and claim files.

Section 5 waits (untimed) for the pooled server's pool to be full before each of
its load levels, so every level starts from the state a pool refilled in the
background is in between bursts, and the refill never runs inside another
server's measurement.
"""

from __future__ import annotations

import asyncio
import time

import docker

from benchmarks.turns import POOL_SIZE, ServedBackend
from sandbox import SandboxSettings
from sandbox.containers.pool_claims import LABEL_POOL, read_claim
from sandbox.containers.warm_pool import pool_filter
from sandbox.disks.spare_images import spare_dir

REFILL_PATIENCE = 300.0
"""Seconds a refill of `POOL_SIZE` containers and their spare disks may take on a loaded 2-core machine."""


def pool_is_full(settings: SandboxSettings, size: int) -> bool:
    """`size` untaken pooled containers of this scope run, and (with quotas) `size` spares of each disk kind are ready."""
    api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        pooled = api.containers(filters=pool_filter(settings))
    finally:
        api.close()
    untaken = [c for c in pooled if read_claim(settings, c["Labels"][LABEL_POOL]) is None]
    if len(untaken) < size:
        return False
    for images_dir in (settings.disk_images_dir, settings.artifacts_images_dir, settings.snapshots_images_dir):
        folder = spare_dir(images_dir)
        if images_dir.is_dir() and (not folder.is_dir() or sum(1 for p in folder.iterdir() if not p.name.startswith(".")) < size):
            return False
    return True


async def wait_for_served_pool(backend: ServedBackend) -> None:
    """Wait until the server's pool is full again (its first refill starts with its first use of Docker)."""
    if backend.workspaces is None:
        return
    settings = SandboxSettings(workspaces_dir=backend.workspaces)
    deadline = time.monotonic() + REFILL_PATIENCE
    while not await asyncio.to_thread(pool_is_full, settings, POOL_SIZE):
        if time.monotonic() > deadline:
            msg = f"{backend.name}'s pool did not refill to {POOL_SIZE} within {REFILL_PATIENCE:.0f} s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.5)
