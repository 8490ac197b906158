"""Parsing of the disk and tmpfs limits (no Docker, no mounts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.env import SettingsError
from config.sandbox import SandboxSettings
from sandbox.disk_quota import human_size


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("SANDBOX_DISK_QUOTA", "SANDBOX_DISK_TOTAL", "SANDBOX_TMPFS_SIZE", "SANDBOX_WORKSPACES_DIR"):
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
