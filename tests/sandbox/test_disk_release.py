"""Releasing idle quota disks at a stop: what a running container or another live server needs stays mounted.

Real loop-mounted images (root), real processes for the other server's lease.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox.coordination.process_lease import other_live_processes, process_lease, release_lease
from sandbox.disks.memories import ensure_memories
from sandbox.disks.quota_disks import snapshots_disk
from sandbox.disks.release import InUse, mounted_disks, release_idle_disks
from sandbox.disks.workspace import ensure_workspace, prepare_quota_folder
from tests.support.lock_holder import hold, kill
from tests.support.workspaces import mounts_under, remove_all_workspaces

pytestmark = pytest.mark.usefixtures("quotas_enforced")


def test_only_disks_no_running_container_needs_are_unmounted(settings: SandboxSettings, tmp_path: Path) -> None:
    try:
        busy = ensure_workspace(settings, "busy-thread", user_id="alice")
        idle = ensure_workspace(settings, "idle-thread", user_id="bob")
        idle_snapshots = prepare_quota_folder(settings, snapshots_disk(settings, "idle-thread"), create=True, user_id="bob")
        alice_memory, bob_memory = ensure_memories(settings, "alice"), ensure_memories(settings, "bob")
        (idle / "kept.txt").write_text("kept")
        assert {str(p) for p in (busy, idle, idle_snapshots, alice_memory, bob_memory)} <= set(mounts_under(tmp_path))

        released = release_idle_disks(settings, InUse(threads=frozenset({"busy-thread"}), users=frozenset({"alice"})))

        assert {disk.mount_point for disk in released} == {idle, idle_snapshots, bob_memory}
        still = set(mounts_under(tmp_path))
        assert {str(busy), str(alice_memory)} <= still
        assert not {str(idle), str(idle_snapshots), str(bob_memory)} & still
        assert {disk.mount_point for disk, _, _ in mounted_disks(settings)} == {busy, alice_memory}
        # The next use mounts it again, with its files.
        assert (ensure_workspace(settings, "idle-thread", user_id="bob") / "kept.txt").read_text() == "kept"
    finally:
        remove_all_workspaces(settings)
    assert mounts_under(tmp_path) == []


def test_another_live_server_process_is_seen_and_a_dead_one_is_not(settings: SandboxSettings, tmp_path: Path) -> None:
    process_lease(settings)  # this process's own lease never counts
    assert other_live_processes(settings) == []
    release_lease(settings)
    holder, owner = hold(
        tmp_path,
        "from sandbox.coordination.process_lease import process_lease\nready(process_lease(settings).id)\ntime.sleep(120)\n",
    )
    try:
        assert other_live_processes(settings) == [owner]
    finally:
        kill(holder)
    assert other_live_processes(settings) == []
