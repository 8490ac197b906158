"""Sandbox settings for tests that run a real sandbox: rooted in a temp dir, with small disk quotas.

The sandbox fixtures build on `make_settings`, and tests that need settings of their own
(other quotas, a second process) call it directly; it lives here so no test imports a conftest.
"""

from __future__ import annotations

from pathlib import Path

from config.sandbox import SandboxSettings

TEST_DISK_QUOTA = 64 * 1024**2
"""Small enough that filling a workspace takes a moment; big enough for every test's files."""
TEST_ARTIFACTS_QUOTA = 16 * 1024**2
"""The smallest `/artifacts` disk: plenty for the captured output these tests make."""
TEST_SNAPSHOT_QUOTA = 16 * 1024**2
"""The smallest snapshot store disk: plenty for the workspaces these tests snapshot."""


def make_settings(root: Path, image: str, **overrides: object) -> SandboxSettings:
    """Settings rooted in a temp dir, with a shared/ holding one reference file.

    Workspaces get a 64 MiB disk quota (when the server can enforce one); a test
    that builds settings this way removes its workspaces with `remove_all_workspaces`.
    """
    shared = root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    (shared / "reference.txt").write_text("shared reference\n")
    base = SandboxSettings(
        image=image,
        workspaces_dir=root / "workspaces",
        shared_dir=shared,
        memories_dir=root / "memories",
        audit_log=root / "audit.jsonl",
        timeout_seconds=60,
        disk_quota_bytes=TEST_DISK_QUOTA,
        artifacts_quota_bytes=TEST_ARTIFACTS_QUOTA,
        snapshot_quota_bytes=TEST_SNAPSHOT_QUOTA,
    )
    return base.with_overrides(**overrides)
