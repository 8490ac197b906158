"""Workspace snapshots on real (quota-mounted) workspaces: record, restore, exclusions, budget, clean-up, copy.

The files are changed on the host the way the agent's tools leave them; what is
checked is what `WorkspaceSnapshots` records and what a restore brings back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox.containers.removal import remove_workspace
from sandbox.disks.disk_budget import disk_use_by_user
from sandbox.disks.disk_quota import quotas_enforced
from sandbox.disks.quota_disks import snapshots_disk
from sandbox.disks.workspace import prepare_workspace
from sandbox.runs.errors import WorkspaceDiskError
from sandbox.snapshots.store import SnapshotMissingError, SnapshotStore
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots
from tests.support.sandbox_settings import TEST_SNAPSHOT_QUOTA

USER = "snapshot-user"


def workspace(settings: SandboxSettings, thread_id: str) -> Path:
    return prepare_workspace(settings, thread_id, create=True, user_id=USER)


def store_of(settings: SandboxSettings, thread_id: str) -> SnapshotStore:
    return SnapshotStore(settings.snapshots_dir / thread_id)


def blob_count(settings: SandboxSettings, thread_id: str) -> int:
    return sum(len(names) for _, _, names in os.walk(settings.snapshots_dir / thread_id / "blobs"))


def test_restore_goes_back_and_forth_between_snapshots(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-rewind")
    snaps.ensure_root(USER, "t-rewind")
    (ws / "notes.txt").write_text("v1\n")
    first = snaps.record(USER, "t-rewind", "/workspace/notes.txt")
    (ws / "notes.txt").write_text("v2\n")
    (ws / "src").mkdir()
    (ws / "src" / "run.sh").write_text("echo hi\n")
    (ws / "src" / "run.sh").chmod(0o755)
    second = snaps.record(USER, "t-rewind")
    assert first < second

    assert snaps.restore(USER, "t-rewind", first) == first
    assert (ws / "notes.txt").read_text() == "v1\n"
    assert not (ws / "src").exists()
    assert snaps.restore(USER, "t-rewind", second) == second
    assert (ws / "notes.txt").read_text() == "v2\n"
    assert (ws / "src" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (ws / "src" / "run.sh").stat().st_uid == (settings.uid if os.geteuid() == 0 else os.getuid())
    # The root is the workspace before the first change: empty.
    assert snaps.restore(USER, "t-rewind", None) is not None
    assert sorted(os.listdir(ws)) == []
    # At the head, nothing changes.
    assert snaps.restore(USER, "t-rewind", None) is None


def test_unchanged_files_cost_nothing(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-cost")
    for index in range(30):
        (ws / f"f{index}.txt").write_text(f"file {index}\n")
    first = snaps.record(USER, "t-cost")
    blobs = blob_count(settings, "t-cost")
    assert blobs == 30
    (ws / "f3.txt").write_text("changed\n")
    second = snaps.record(USER, "t-cost")
    assert second != first
    assert blob_count(settings, "t-cost") == blobs + 1
    os.utime(ws / "f4.txt")  # touched, same content: the same snapshot
    assert snaps.record(USER, "t-cost") == second


def test_a_file_tool_snapshot_reads_only_its_path_and_follows_links_by_walking(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-path")
    (ws / "real").mkdir()
    (ws / "link").symlink_to("real")
    first = snaps.record(USER, "t-path")
    (ws / "real" / "x.txt").write_text("through the link\n")
    second = snaps.record(USER, "t-path", "/workspace/link/x.txt")  # written through the link: found by a walk
    assert store_of(settings, "t-path").load(second).files.keys() == {"real/x.txt"}
    snaps.restore(USER, "t-path", first)
    assert not (ws / "real" / "x.txt").exists()
    assert os.readlink(ws / "link") == "real"


def test_a_planted_symlink_is_never_followed_by_a_restore(settings: SandboxSettings, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-link")
    (ws / "out").mkdir()
    (ws / "out" / "data.txt").write_text("inside\n")
    first = snaps.record(USER, "t-link")
    for name in os.listdir(ws / "out"):
        os.unlink(ws / "out" / name)
    os.rmdir(ws / "out")
    os.symlink(outside, ws / "out")  # the agent swaps the folder for a link out of the workspace
    snaps.record(USER, "t-link")
    snaps.restore(USER, "t-link", first)
    assert os.listdir(outside) == []
    assert not (ws / "out").is_symlink()
    assert (ws / "out" / "data.txt").read_text() == "inside\n"


def test_excluded_paths_and_large_files_are_neither_recorded_nor_touched(settings: SandboxSettings) -> None:
    settings = settings.with_overrides(snapshot_exclude=("node_modules", "build/cache"), snapshot_max_file_bytes=1024)
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-exclude")
    (ws / "keep.txt").write_text("v1\n")
    first = snaps.record(USER, "t-exclude")
    (ws / "keep.txt").write_text("v2\n")
    (ws / "node_modules").mkdir()
    (ws / "node_modules" / "lib.js").write_text("x\n")
    (ws / "build" / "cache").mkdir(parents=True)
    (ws / "build" / "cache" / "obj").write_text("o\n")
    (ws / "big.bin").write_bytes(b"b" * 4096)
    second = snaps.record(USER, "t-exclude")
    manifest = store_of(settings, "t-exclude").load(second)
    assert set(manifest.files) == {"keep.txt"}
    assert set(manifest.dirs) == {"build"}
    snaps.restore(USER, "t-exclude", first)
    assert (ws / "keep.txt").read_text() == "v1\n"
    assert (ws / "node_modules" / "lib.js").read_text() == "x\n"
    assert (ws / "build" / "cache" / "obj").read_text() == "o\n"
    assert (ws / "big.bin").stat().st_size == 4096


def test_a_missing_snapshot_is_an_error_and_leaves_the_workspace(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-missing")
    (ws / "a.txt").write_text("now\n")
    snaps.record(USER, "t-missing")
    with pytest.raises(SnapshotMissingError, match="0000000099-0123456789abcdef"):
        snaps.restore(USER, "t-missing", "0000000099-0123456789abcdef")
    with pytest.raises(SnapshotMissingError, match="no snapshot store"):
        snaps.restore(USER, "t-never", "0000000001-0123456789abcdef")
    assert (ws / "a.txt").read_text() == "now\n"


def test_snapshots_go_with_the_thread(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-gone")
    (ws / "a.txt").write_text("x\n")
    snaps.record(USER, "t-gone")
    disk = snapshots_disk(settings, "t-gone")
    assert disk.mount_point.is_dir()
    remove_workspace(settings, "t-gone")
    assert not disk.mount_point.exists()
    assert not disk.image.exists()


def test_snapshot_storage_counts_towards_the_users_disk_budget(settings: SandboxSettings) -> None:
    if not quotas_enforced(settings):
        pytest.skip("disk quotas are off here")
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-budget")
    before = disk_use_by_user(settings)[USER].reserved
    (ws / "a.txt").write_text("x\n")
    snaps.record(USER, "t-budget")
    now = disk_use_by_user(settings)[USER].reserved
    assert now == before + TEST_SNAPSHOT_QUOTA
    # A user whose budget is used up by workspaces gets no snapshot store: the refusal names the setting.
    tight = settings.with_overrides(disk_per_user_bytes=now + settings.disk_quota_bytes)
    other = workspace(tight, "t-budget-2")
    (other / "b.txt").write_text("y\n")
    with pytest.raises(WorkspaceDiskError, match="SANDBOX_SNAPSHOT_QUOTA"):
        WorkspaceSnapshots(tight).record(USER, "t-budget-2")


def test_a_copy_gets_the_files_and_every_snapshot(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-source")
    snaps.ensure_root(USER, "t-source")
    (ws / "a.txt").write_text("v1\n")
    first = snaps.record(USER, "t-source")
    (ws / "a.txt").write_text("v2\n")
    second = snaps.record(USER, "t-source")
    assert snaps.copy_thread("t-source", "t-copy", USER)
    copy = workspace(settings, "t-copy")
    assert (copy / "a.txt").read_text() == "v2\n"
    assert snaps.head(USER, "t-copy") == second
    snaps.restore(USER, "t-copy", first)
    assert (copy / "a.txt").read_text() == "v1\n"
    assert (ws / "a.txt").read_text() == "v2\n"
    assert not snaps.copy_thread("t-nothing", "t-copy-2", USER)
