"""Section 2b: the first command of a new thread, with the warm pool and without it.

A new thread's first `execute` in session mode used to create and start its
container (and its workspace); with `SANDBOX_POOL_SIZE` it takes a pooled one
and only binds the thread's folders into it. Both deployments run the same
command on new threads, interleaved; the pooled one waits (untimed) until its
pool is full again before each sample, so each sample measures a warm pool, the
state a pool refilled in the background is in between bursts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from benchmarks.stats import Row, SectionResult, Target, format_seconds, median, percentile, rotations
from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.removal import remove_all_workspaces, remove_thread

FIRST_COMMAND_TARGET = Target(150.0)
"""Milliseconds: the p50 the pool must reach (pooled sandboxes elsewhere start in 90-150 ms)."""
POOL_SIZE = 2
DISK_QUOTA = 64 * 1024**2
"""The served benchmarks' workspace quota: each sampled thread is deleted again, so budgets never run out."""
REFILL_PATIENCE = 60.0


def _first_command(deployment: SandboxDeployment, prefix: str) -> Callable[[], str]:
    """Each call runs `true` as the first command of a fresh thread; the thread's id."""
    counter = itertools.count()

    def run() -> str:
        box = DockerSandbox(f"{prefix}-{next(counter)}", deployment)
        result = box.execute("true")
        if result.exit_code != 0:
            msg = f"first command failed: {result.output[:200]}"
            raise RuntimeError(msg)
        return box.thread_id

    return run


def _wait_for_full_pool(deployment: SandboxDeployment) -> None:
    deadline = time.monotonic() + REFILL_PATIENCE
    while not deployment.pool.full():
        if time.monotonic() > deadline:
            msg = "the pool did not refill within a minute"
            raise RuntimeError(msg)
        time.sleep(0.05)


def _samples(pooled: SandboxDeployment, plain: SandboxDeployment, *, iterations: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per first command, alternating which variant goes first; the pool refills untimed before each of its own."""
    variants = {"pool": _first_command(pooled, "bench-pooled"), "no pool": _first_command(plain, "bench-plain")}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for iteration in range(warmup + iterations):
        for name in rotations(list(variants), iteration):
            if name == "pool":
                _wait_for_full_pool(pooled)
            started = time.perf_counter()
            thread_id = variants[name]()
            if iteration >= warmup:
                samples[name].append(time.perf_counter() - started)
            deployment = pooled if name == "pool" else plain
            remove_thread(deployment.api, deployment.settings, thread_id)  # untimed: a deleted thread frees its disk budget
    return samples


def bench_first_command(settings: SandboxSettings, *, iterations: int, warmup: int) -> SectionResult:
    """Interleave first commands of new threads with and without the pool (separate scopes, same image)."""
    session = settings.with_overrides(mode="session", disk_quota_bytes=DISK_QUOTA)
    folder = settings.workspaces_dir
    plain = SandboxDeployment(session.with_overrides(workspaces_dir=folder.with_name("first-plain")))
    pooled = SandboxDeployment(session.with_overrides(pool_size=POOL_SIZE, workspaces_dir=folder.with_name("first-pooled")))
    try:
        plain.start()
        pooled.start()
        if not pooled.pool.enabled:
            msg = "the pool could not start (the benchmark needs a root server that may mount folders)"
            raise RuntimeError(msg)
        samples = _samples(pooled, plain, iterations=iterations, warmup=warmup)
    finally:
        for deployment in (plain, pooled):
            deployment.close(remove_sessions=True)
            remove_all_workspaces(deployment.settings)
    pool_ms = [s * 1000 for s in samples["pool"]]
    plain_ms = [s * 1000 for s in samples["no pool"]]
    p50 = median(pool_ms)
    result = SectionResult()
    result.rows.append(
        Row(
            section="2",
            measure="first command of a new thread (session mode), with the pool; floor: without",
            ours=format_seconds(p50 / 1000, "ms"),
            floor=format_seconds(median(plain_ms) / 1000, "ms"),
            value=p50,
            value_text=f"p50 {p50:.0f} ms",
            target=FIRST_COMMAND_TARGET,
        )
    )
    result.details.append(
        f"first command with the pool: p50 {p50:.1f} ms, p95 {percentile(pool_ms, 0.95):.1f} ms; without: p50 "
        f"{median(plain_ms):.1f} ms, p95 {percentile(plain_ms, 0.95):.1f} ms (n={len(pool_ms)} each; "
        f"pool of {POOL_SIZE}, full before each timed command)"
    )
    return result
