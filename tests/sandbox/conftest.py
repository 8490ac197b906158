"""Sandbox fixtures: settings rooted in a temp dir, and deployments cleaned up after use.

`docker_api` and `sandbox_image` come from `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import SandboxDeployment, SandboxSettings
from sandbox.disks.disk_quota import quota_problem
from tests.support.sandbox_settings import make_settings
from tests.support.tiny_registry import TinyRegistry
from tests.support.workspaces import remove_all_workspaces


@pytest.fixture
def settings(tmp_path: Path, sandbox_image: str) -> Iterator[SandboxSettings]:
    settings = make_settings(tmp_path, sandbox_image)
    yield settings
    remove_all_workspaces(settings)


@pytest.fixture
def quotas_enforced(settings: SandboxSettings) -> None:
    """Skip a disk quota test where quotas cannot hold (not root, no loop devices); fail it instead where CI needs them."""
    problem = quota_problem(settings)
    if problem is not None:
        if os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"disk quotas cannot be enforced here: {problem}")
        pytest.skip(f"disk quotas cannot be enforced here: {problem}")


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
