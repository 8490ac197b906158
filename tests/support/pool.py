"""Warm-pool helpers for tests: wait for a deployment's pool, and prove a thread's container came from it."""

from __future__ import annotations

import time

from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.pool_claims import LABEL_POOL, Claim, read_claim
from sandbox.containers.warm_pool import pool_filter

PATIENCE = 120.0
"""Seconds to wait for a pool to fill on a loaded machine."""


def wait_for_full_pool(deployment: SandboxDeployment, timeout: float = PATIENCE) -> None:
    """Connect the deployment and wait until its pool holds all its containers (and spare disks)."""
    deployment.start()
    if not deployment.pool.enabled:
        msg = "the pool did not start (the tests run as root, which may mount folders)"
        raise AssertionError(msg)
    deadline = time.monotonic() + timeout
    while not deployment.pool.full():
        if time.monotonic() > deadline:
            msg = f"the pool did not fill within {timeout:.0f} s"
            raise AssertionError(msg)
        time.sleep(0.1)


def pooled_container_of(box: DockerSandbox) -> str | None:
    """The id of the pooled container claimed by `box`'s thread and user, or None."""
    deployment, ref = box.deployment, box.thread()
    for container in deployment.api.containers(all=True, filters=pool_filter(deployment.settings)):
        if read_claim(deployment.settings, container["Labels"][LABEL_POOL]) == Claim(ref.thread_id, ref.user_id):
            return str(container["Id"])
    return None


def take_from_pool(box: DockerSandbox) -> str:
    """Run the thread's first command once its deployment's pool is full; the pooled container it took."""
    wait_for_full_pool(box.deployment)
    result = box.execute("true")
    if result.exit_code != 0:
        msg = f"the first command failed: {result.output}"
        raise AssertionError(msg)
    taken = pooled_container_of(box)
    if taken is None:
        msg = f"thread {box.thread_id}'s first command did not take a pooled container"
        raise AssertionError(msg)
    return taken
