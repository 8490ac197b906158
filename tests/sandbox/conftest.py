"""Sandbox fixtures: settings rooted in a temp dir, and deployments cleaned up after use.

`docker_api` and `sandbox_image` come from `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import SandboxDeployment, SandboxSettings
from tests.support.tiny_registry import TinyRegistry
from tests.support.workspaces import remove_all_workspaces

TEST_DISK_QUOTA = 64 * 1024**2
"""Small enough that filling a workspace takes a moment; big enough for every test's files."""
TEST_ARTIFACTS_QUOTA = 16 * 1024**2
"""The smallest `/artifacts` disk: plenty for the captured output these tests make."""


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
    )
    return base.with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path: Path, sandbox_image: str) -> Iterator[SandboxSettings]:
    settings = make_settings(tmp_path, sandbox_image)
    yield settings
    remove_all_workspaces(settings)


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


@pytest.fixture
def registry(docker_api: docker.APIClient) -> Iterator[TinyRegistry]:
    """A registry on 127.0.0.1 serving one tiny image; the image is removed again if pulled."""
    with TinyRegistry() as registry:
        yield registry
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_api.remove_image(registry.image, force=True)
