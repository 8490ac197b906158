"""Section 8: workspace snapshots on a workspace of 1,000 files / 50 MB with one file changed.

What a tool call adds when the workspace follows the checkpoints
(`sandbox.snapshots`): the snapshot after a file tool (only its path re-read),
the snapshot after `execute` (a stat walk of all 1,000 files, one re-hashed),
and a restore between two snapshots that differ in one file (a stat walk, one
file written). The targets are absolute p50s (10 ms, 30 ms, 500 ms): there is
no floor that does the same work, so the row's "floor" is the stat walk alone
(`os.walk` + `lstat` of the same tree), the least any change detection costs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.stats import Row, SectionResult, Target, format_seconds, median, percentile
from config.identity import SINGLE_USER_ID
from sandbox import SandboxSettings
from sandbox.disks.workspace import ensure_workspace
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots

SECTION = "8. workspace snapshots"
THREAD = "bench-snapshots"
DIRS, FILES_PER_DIR, FILE_BYTES = 10, 100, 50 * 1024
"""1,000 files of 50 KiB: 50 MB."""
FILE_TOOL_TARGET_MS, EXECUTE_TARGET_MS, RESTORE_TARGET_MS = 10.0, 30.0, 500.0


def _fill(workspace: Path) -> None:
    for d in range(DIRS):
        folder = workspace / f"dir{d}"
        folder.mkdir(exist_ok=True)
        for f in range(FILES_PER_DIR):
            (folder / f"file{f}.txt").write_bytes(os.urandom(FILE_BYTES // 2).hex().encode())


def _stat_walk(workspace: Path) -> int:
    count = 0
    for folder, _dirs, names in os.walk(workspace):
        for name in names:
            os.lstat(os.path.join(folder, name))
            count += 1
    return count


def _row(measure: str, samples: list[float], floor: list[float], target_ms: float) -> Row:
    p50 = median(samples)
    return Row(
        section=SECTION,
        measure=f"{measure} (p50; p95 {format_seconds(percentile(samples, 0.95), 'ms')})",
        ours=format_seconds(p50, "ms"),
        floor=format_seconds(median(floor), "ms") if floor else "—",
        value=p50 * 1000,
        value_text=f"{p50 * 1000:.2f} ms",
        target=Target(target_ms),
    )


def bench_snapshots(settings: SandboxSettings, *, iterations: int, warmup: int) -> SectionResult:
    """Time snapshot after a file tool, after `execute`, and restore (see the module docstring)."""
    snapshots = WorkspaceSnapshots(settings.with_overrides(snapshot_quota_bytes=max(settings.snapshot_quota_bytes, 512 * 1024**2)))
    workspace = ensure_workspace(settings, THREAD, user_id=SINGLE_USER_ID)
    _fill(workspace)
    started = time.perf_counter()
    snapshots.ensure_root(SINGLE_USER_ID, THREAD)
    first_full = time.perf_counter() - started
    changed = workspace / "dir3" / "file17.txt"
    file_tool: list[float] = []
    execute: list[float] = []
    walk: list[float] = []
    ids: list[str] = []
    for index in range(warmup + iterations):
        changed.write_bytes(f"file tool change {index}\n".encode() * 100)
        began = time.perf_counter()
        ids.append(snapshots.record(SINGLE_USER_ID, THREAD, "/workspace/dir3/file17.txt"))
        after_file_tool = time.perf_counter() - began
        changed.write_bytes(f"execute change {index}\n".encode() * 100)
        began = time.perf_counter()
        ids.append(snapshots.record(SINGLE_USER_ID, THREAD))
        after_execute = time.perf_counter() - began
        began = time.perf_counter()
        files = _stat_walk(workspace)
        walked = time.perf_counter() - began
        if index >= warmup:
            file_tool.append(after_file_tool)
            execute.append(after_execute)
            walk.append(walked)
    if files != DIRS * FILES_PER_DIR or len(set(ids)) != len(ids):
        msg = f"the benchmark workspace is not what it should be: {files} files, {len(set(ids))} distinct snapshots of {len(ids)}"
        raise RuntimeError(msg)
    restore: list[float] = []
    for index in range(warmup + iterations):
        wanted = ids[index % 2]  # two snapshots one file apart, in turn
        began = time.perf_counter()
        snapshots.restore(SINGLE_USER_ID, THREAD, wanted)
        took = time.perf_counter() - began
        if index >= warmup:
            restore.append(took)
    last = "file tool change 0" if (warmup + iterations - 1) % 2 == 0 else "execute change 0"
    if changed.read_bytes() != f"{last}\n".encode() * 100:
        msg = "a restore did not bring back the snapshot's content"
        raise RuntimeError(msg)
    return SectionResult(
        rows=[
            _row("snapshot after a file tool", file_tool, walk, FILE_TOOL_TARGET_MS),
            _row("snapshot after execute", execute, walk, EXECUTE_TARGET_MS),
            _row("restore (one file differs)", restore, walk, RESTORE_TARGET_MS),
        ],
        details=[
            f"Workspace: {DIRS * FILES_PER_DIR} files of {FILE_BYTES // 1024} KiB; the first snapshot (all hashed) took "
            f"{format_seconds(first_full, 'ms')}. Floor: `os.walk` + `lstat` of the same tree.",
        ],
    )
