"""Sandbox fixtures: settings rooted in a temp dir, and deployments cleaned up after use.

`docker_api` and `sandbox_image` come from `tests/conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SandboxDeployment, SandboxSettings


def make_settings(root: Path, image: str, **overrides: object) -> SandboxSettings:
    """Settings rooted in a temp dir, with a shared/ holding one reference file."""
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
    )
    return base.with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path: Path, sandbox_image: str) -> SandboxSettings:
    return make_settings(tmp_path, sandbox_image)


@pytest.fixture
def deployment(settings: SandboxSettings) -> Iterator[SandboxDeployment]:
    deployment = SandboxDeployment(settings)
    yield deployment
    deployment.close(remove_sessions=True)


@pytest.fixture
def session_deployment(settings: SandboxSettings) -> Iterator[SandboxDeployment]:
    deployment = SandboxDeployment(settings.with_overrides(mode="session"))
    yield deployment
    deployment.close(remove_sessions=True)
