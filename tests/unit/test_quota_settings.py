"""Parsing of the disk and tmpfs limits (no Docker, no mounts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.env import SettingsError
from config.sandbox import SandboxSettings
from sandbox.disks.disk_budget import human_size


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("SANDBOX_DISK_QUOTA", "SANDBOX_DISK_TOTAL", "SANDBOX_DISK_PER_USER", "SANDBOX_TMPFS_SIZE", "SANDBOX_WORKSPACES_DIR"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_defaults_bound_every_writable_path(env: pytest.MonkeyPatch) -> None:
    s = SandboxSettings.from_env()
    assert s.disk_quota_bytes == 2 * 1024**3
    assert s.disk_total_bytes is None  # auto: derived from the disk's free space
    assert s.tmpfs_bytes == 256 * 1024**2


@pytest.mark.parametrize(("raw", "expected"), [("64m", 64 << 20), ("5g", 5 << 30), ("0", 0), ("1073741824", 1 << 30)])
def test_disk_quota_forms(env: pytest.MonkeyPatch, raw: str, expected: int) -> None:
    env.setenv("SANDBOX_DISK_QUOTA", raw)
    assert SandboxSettings.from_env().disk_quota_bytes == expected


@pytest.mark.parametrize("raw", ["1m", "-5g", "lots", "100mb"])
def test_bad_disk_quota_names_the_variable(env: pytest.MonkeyPatch, raw: str) -> None:
    env.setenv("SANDBOX_DISK_QUOTA", raw)
    with pytest.raises(SettingsError, match="SANDBOX_DISK_QUOTA"):
        SandboxSettings.from_env()


@pytest.mark.parametrize(("raw", "expected"), [("auto", None), ("AUTO", None), ("", None), ("100g", 100 << 30)])
def test_disk_total_forms(env: pytest.MonkeyPatch, raw: str, expected: int | None) -> None:
    env.setenv("SANDBOX_DISK_TOTAL", raw)
    assert SandboxSettings.from_env().disk_total_bytes == expected


def test_bad_disk_total_and_tmpfs_are_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("SANDBOX_DISK_TOTAL", "plenty")
    with pytest.raises(SettingsError, match="SANDBOX_DISK_TOTAL"):
        SandboxSettings.from_env()
    env.delenv("SANDBOX_DISK_TOTAL")
    env.setenv("SANDBOX_TMPFS_SIZE", "100k")
    with pytest.raises(SettingsError, match="SANDBOX_TMPFS_SIZE"):
        SandboxSettings.from_env()


def test_images_live_beside_the_workspaces_never_inside(tmp_path: Path) -> None:
    s = SandboxSettings(workspaces_dir=tmp_path / "workspaces")
    assert s.disk_images_dir == tmp_path / "workspaces.disks"
    assert not s.disk_images_dir.is_relative_to(s.workspaces_dir)


def test_human_size() -> None:
    assert [human_size(n) for n in (64 << 20, 2 << 30, 1536 << 20, 512)] == ["64 MiB", "2 GiB", "1.5 GiB", "512 bytes"]


@pytest.mark.parametrize(("raw", "expected"), [("auto", None), ("", None), ("0", 0), ("10g", 10 << 30)])
def test_disk_per_user_forms(env: pytest.MonkeyPatch, raw: str, expected: int | None) -> None:
    env.setenv("SANDBOX_DISK_PER_USER", raw)
    assert SandboxSettings.from_env().disk_per_user_bytes == expected


def test_disk_per_user_below_one_thread_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("SANDBOX_DISK_QUOTA", "1g")
    env.setenv("SANDBOX_DISK_PER_USER", "1g")  # no room for the memories' 16 MiB besides one workspace
    with pytest.raises(SettingsError, match="SANDBOX_DISK_PER_USER"):
        SandboxSettings.from_env()


def test_one_thread_counts_its_snapshot_store_too(env: pytest.MonkeyPatch) -> None:
    """A budget that holds the workspace, artifacts and memories but not the snapshots refuses the first thread's snapshots."""
    for var, size in {"SANDBOX_DISK_QUOTA": "64m", "SANDBOX_ARTIFACTS_QUOTA": "16m", "SANDBOX_MEMORIES_QUOTA": "16m"}.items():
        env.setenv(var, size)
    env.setenv("SANDBOX_SNAPSHOT_QUOTA", "32m")
    env.setenv("SANDBOX_DISK_PER_USER", "96m")
    with pytest.raises(SettingsError, match="SANDBOX_SNAPSHOT_QUOTA"):
        SandboxSettings.from_env()
    env.setenv("SANDBOX_DISK_PER_USER", "128m")
    assert SandboxSettings.from_env().first_thread_disk_bytes == 128 << 20


def test_auto_budget_is_a_quarter_of_the_total_once_users_sign_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.disks.disk_budget import user_budget  # noqa: PLC0415

    for var in ("AUTH_JWT_SECRET", "AUTH_JWKS_FILE", "AUTH_JWKS_URL"):
        monkeypatch.delenv(var, raising=False)
    s = SandboxSettings(workspaces_dir=tmp_path / "workspaces", disk_total_bytes=100 << 30)
    assert user_budget(s) is None, "single-user mode: the one user may use the whole total"
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)
    assert user_budget(s) == 25 << 30
    assert user_budget(s.with_overrides(disk_per_user_bytes=0)) is None
    assert user_budget(s.with_overrides(disk_per_user_bytes=3 << 30)) == 3 << 30
    tiny = s.with_overrides(disk_total_bytes=2 << 30)
    one_thread = (2 << 30) + (128 << 20) + (512 << 20) + (16 << 20)  # workspace, artifacts, snapshots, memories
    assert user_budget(tiny) == tiny.first_thread_disk_bytes == one_thread, "never less than one thread"
