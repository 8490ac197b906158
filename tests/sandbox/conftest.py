"""Docker fixtures for sandbox tests.

Tests that need Docker skip when it is missing, unless `SANDBOX_REQUIRE_DOCKER=1`
(as in CI), where a missing engine or image is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import SandboxDeployment, SandboxSettings
from sandbox.docker_api import OFFLINE_IMAGE_SCRIPT

DEFAULT_TEST_IMAGE = "deepagents-sandbox:offline"


def _require_docker() -> bool:
    return os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _require_docker():
        pytest.fail(f"{reason} (SANDBOX_REQUIRE_DOCKER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_api() -> docker.APIClient:
    try:
        api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
        api.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"Docker Engine not reachable: {exc}")
    return api


@pytest.fixture(scope="session")
def sandbox_image(docker_api: docker.APIClient) -> str:
    image = os.environ.get("SANDBOX_IMAGE") or DEFAULT_TEST_IMAGE
    try:
        docker_api.inspect_image(image)
    except docker.errors.ImageNotFound:
        _unavailable(f"sandbox image {image} missing: build it with `bash {OFFLINE_IMAGE_SCRIPT} {image}`")
    return image


def make_settings(root: Path, image: str, **overrides: object) -> SandboxSettings:
    """Settings rooted in a temp dir, with a shared/ holding one reference file."""
    shared = root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    (shared / "reference.txt").write_text("shared reference\n")
    base = SandboxSettings(image=image, workspaces_dir=root / "workspaces", shared_dir=shared, timeout_seconds=60)
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
