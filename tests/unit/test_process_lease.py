"""Process leases: who owns an ephemeral container, and whether that process still lives (real processes, no Docker)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.sandbox import SandboxSettings
from sandbox.coordination.process_lease import (
    LEASE_SUFFIX,
    kernel_tag,
    leases_dir,
    owner_alive,
    process_lease,
    release_lease,
    sweep_dead_leases,
)
from tests.support.lock_holder import hold, kill

TTL = 8


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[SandboxSettings]:
    settings = SandboxSettings(
        workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared", memories_dir=tmp_path / "memories", lease_ttl_seconds=TTL
    )
    yield settings
    release_lease(settings)


def _other_kernel() -> str:
    return "0123456789ab" if kernel_tag() != "0123456789ab" else "ba9876543210"


def test_a_live_process_is_alive_and_a_killed_one_is_dead(settings: SandboxSettings, tmp_path: Path) -> None:
    holder, owner = hold(
        tmp_path,
        "from sandbox.coordination.process_lease import process_lease\nready(process_lease(settings).id)\ntime.sleep(120)\n",
    )
    try:
        assert owner.startswith(f"{kernel_tag()}-{holder.pid}-")
        assert owner_alive(settings, owner, age=10**6) is True
        assert sweep_dead_leases(settings) == []
    finally:
        kill(holder)
    # Same kernel: the lock is gone with the process, at once (no heartbeat wait).
    assert owner_alive(settings, owner, age=0) is False
    assert sweep_dead_leases(settings) == [owner]
    assert not (leases_dir(settings) / f"{owner}{LEASE_SUFFIX}").exists()
    assert owner_alive(settings, owner, age=0) is False


def test_a_forked_child_does_not_keep_its_parents_lease_alive(settings: SandboxSettings, tmp_path: Path) -> None:
    script = """\
    from sandbox.coordination.process_lease import process_lease
    lease = process_lease(settings)
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    ready(f"{lease.id} {child}")
    time.sleep(120)
    """
    holder, printed = hold(tmp_path, script)
    owner, child = printed.split()
    try:
        assert owner_alive(settings, owner, age=0) is True
        kill(holder)
        os.kill(int(child), 0)  # the forked child still runs ...
        assert owner_alive(settings, owner, age=0) is False  # ... and does not hold its parent's lease
    finally:
        kill(holder)
        os.kill(int(child), 9)


def test_this_process_is_alive_until_it_releases_its_lease(settings: SandboxSettings) -> None:
    lease = process_lease(settings)
    assert process_lease(settings) is lease
    assert owner_alive(settings, lease.id, age=10**6) is True
    release_lease(settings)
    assert owner_alive(settings, lease.id, age=0) is False
    assert process_lease(settings).id != lease.id


def test_another_hosts_process_lives_by_its_lock_or_its_heartbeat(settings: SandboxSettings) -> None:
    owner = f"{_other_kernel()}-4242-0badcafe"
    path = leases_dir(settings) / f"{owner}{LEASE_SUFFIX}"
    path.write_text("{}")
    assert owner_alive(settings, owner, age=0) is True, "a fresh heartbeat means alive"
    stale = time.time() - 2 * TTL
    os.utime(path, (stale, stale))
    assert owner_alive(settings, owner, age=10**6) is False, "a heartbeat older than the TTL means dead"
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # where flock reaches across hosts, a held lock means alive
        assert owner_alive(settings, owner, age=10**6) is True
        assert sweep_dead_leases(settings) == []
    finally:
        os.close(fd)
    assert sweep_dead_leases(settings) == [owner]


def test_a_missing_lease_is_dead_here_but_may_not_be_visible_yet_from_another_host(settings: SandboxSettings) -> None:
    assert owner_alive(settings, f"{kernel_tag()}-4242-0badcafe", age=0) is False
    elsewhere = f"{_other_kernel()}-4242-0badcafe"
    assert owner_alive(settings, elsewhere, age=1) is True
    assert owner_alive(settings, elsewhere, age=TTL + 1) is False


@pytest.mark.parametrize("owner", ["", "legacy", "../../procs/x", f"{'a' * 12}-1-0badcafe/../x", "ABCDEF012345-1-0badcafe"])
def test_an_owner_that_is_no_lease_id_is_unknown(settings: SandboxSettings, owner: str) -> None:
    assert owner_alive(settings, owner, age=0) is None


def test_the_heartbeat_keeps_the_lease_fresh(settings: SandboxSettings) -> None:
    lease = process_lease(settings.with_overrides(lease_ttl_seconds=4))
    os.utime(lease.path, (0, 0))
    deadline = time.monotonic() + 30
    while lease.path.stat().st_mtime < time.time() - 60:
        assert time.monotonic() < deadline, "the heartbeat did not touch the lease (every TTL/4 seconds)"
        time.sleep(0.2)
