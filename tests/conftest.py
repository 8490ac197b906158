"""The test tiers, and the fixtures every Docker-backed test shares: the engine and the sandbox image.

Every test belongs to exactly one tier (`tests/README.md`), given as a marker by
`tier_of`: plain `uv run pytest` runs only the fast `unit` tier, and
`uv run pytest -m "unit or sandbox or e2e or browser"` (the README's and CI's command) runs them all.

Tests that need Docker skip when it is missing, unless `SANDBOX_REQUIRE_DOCKER=1`
(as in CI), where a missing engine or image is a failure, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.containers.docker_api import OFFLINE_IMAGE_SCRIPT
from tests.support.tiers import ALL_TIERS, tier_of
from tests.support.workspaces import mounts_under

DEFAULT_TEST_IMAGE = "deepagents-sandbox:offline"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (and `aegra` when Aegra serves it); a bare `pytest` keeps only the unit tier."""
    tests_root = Path(__file__).resolve().parent
    for item in items:
        relative = item.path.resolve().relative_to(tests_root).as_posix()
        item.add_marker(tier_of(relative, {mark.name for mark in item.iter_markers()}))
        if "aegra" in item.nodeid.lower():
            item.add_marker(pytest.mark.aegra)
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS and not config.option.markexpr:
        kept = [item for item in items if item.get_closest_marker("unit")]
        dropped = [item for item in items if not item.get_closest_marker("unit")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say when the other tiers were left out, and how to run them."""
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS and not config.option.markexpr:
        return f'unit tier only; every tier: uv run pytest -m "{ALL_TIERS}" (tests/README.md)'
    return None


def _require_docker() -> bool:
    return os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _require_docker():
        pytest.fail(f"{reason} (SANDBOX_REQUIRE_DOCKER=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _no_mount_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Unmount any workspace disk a test left mounted in pytest's tmp dirs, and warn about it.

    pytest cannot delete a mounted tmp dir, and each mount holds a loop device; tests
    should call `tests.support.workspaces.remove_all_workspaces` themselves.
    """
    yield
    left = mounts_under(tmp_path_factory.getbasetemp())
    for point in reversed(left):
        subprocess.run(["umount", "-l", point], check=False)
    if left:
        warnings.warn(f"tests left these workspace disks mounted (now unmounted): {left}", stacklevel=1)


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
