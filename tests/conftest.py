"""Fixtures every Docker-backed test shares: the engine and the sandbox image.

Tests that need Docker skip when it is missing, unless `SANDBOX_REQUIRE_DOCKER=1`
(as in CI), where a missing engine or image is a failure, not a skip.
"""

from __future__ import annotations

import os

import docker
import pytest

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
    """`SANDBOX_IMAGE`, or the offline image; present locally, or the test skips/fails."""
    image = os.environ.get("SANDBOX_IMAGE", "").strip() or DEFAULT_TEST_IMAGE
    try:
        docker_api.inspect_image(image)
    except docker.errors.ImageNotFound:
        _unavailable(f"sandbox image {image} missing: build it with `bash {OFFLINE_IMAGE_SCRIPT} {image}`")
    return image
