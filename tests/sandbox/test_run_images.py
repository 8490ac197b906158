"""Which images a run may use, and how much of a container's output the server reads.

A run's context may name `sandbox_image`; only `SANDBOX_IMAGE` and the images an
admin lists in `SANDBOX_ALLOWED_IMAGES` run, and only `SANDBOX_IMAGE` is ever
pulled. A registry on 127.0.0.1 (`TinyRegistry`) tells whether the engine asked.
Whatever a container writes, the server keeps at most the output cap of it.
"""

from __future__ import annotations

import contextlib
import io
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from config.sandbox import SandboxMode, SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.runner import HOST_READ_SLACK_BYTES, run_ephemeral, run_in_session
from sandbox.disks.workspace import ThreadRef
from tests.support.tiny_registry import TinyRegistry

pytestmark = pytest.mark.docker

MODES: list[SandboxMode] = ["ephemeral", "session"]


@contextlib.contextmanager
def _deployment(settings: SandboxSettings, **changes: object) -> Iterator[SandboxDeployment]:
    deployment = SandboxDeployment(settings.with_overrides(**changes))
    try:
        yield deployment
    finally:
        deployment.close(remove_sessions=True)


@pytest.fixture
def local_image(docker_api: docker.APIClient, sandbox_image: str) -> Iterator[str]:
    """A second name for the sandbox image: present on the host, so only the allow-list can keep it out."""
    name = f"deepagents-sandbox-test:other-{uuid.uuid4().hex[:8]}"
    repository, tag = name.split(":")
    docker_api.tag(sandbox_image, repository, tag)
    yield name
    docker_api.remove_image(name)


@pytest.fixture
def entrypoint_image(docker_api: docker.APIClient, sandbox_image: str) -> Iterator[str]:
    """The sandbox image with an ENTRYPOINT that ignores its arguments and floods its output."""
    name = f"deepagents-sandbox-test:entrypoint-{uuid.uuid4().hex[:8]}"
    dockerfile = f'FROM {sandbox_image}\nENTRYPOINT ["head", "-c", "200000000", "/dev/zero"]\n'
    for _ in docker_api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=name, rm=True, pull=False, decode=True):
        pass
    yield name
    docker_api.remove_image(name, force=True)


def _not_present(docker_api: docker.APIClient, image: str) -> bool:
    try:
        docker_api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return True
    return False


@pytest.mark.parametrize("mode", MODES)
def test_an_image_off_the_allow_list_is_refused_and_never_pulled(
    settings: SandboxSettings, registry: TinyRegistry, local_image: str, docker_api: docker.APIClient, mode: SandboxMode
) -> None:
    with _deployment(settings, mode=mode) as deployment:
        for image in (registry.image, local_image):
            box = DockerSandbox(f"refused-{mode}", deployment, image=image)
            result = box.execute("echo never")
            assert result.exit_code is None, result.output
            assert "SANDBOX_ALLOWED_IMAGES" in result.output, result.output
            assert image in result.output
            assert "never" not in result.output
    assert registry.requests == 0, "the engine never asked the registry"
    assert _not_present(docker_api, registry.image)


def test_an_allowed_image_that_is_missing_is_not_pulled(
    settings: SandboxSettings, registry: TinyRegistry, docker_api: docker.APIClient
) -> None:
    with _deployment(settings, allowed_images=(registry.image,)) as deployment:
        result = DockerSandbox("missing", deployment, image=registry.image).execute("echo never")
    assert result.exit_code is None, result.output
    assert "not present on this host" in result.output, result.output
    assert "never pulled" in result.output, result.output
    assert registry.requests == 0
    assert _not_present(docker_api, registry.image)


@pytest.mark.parametrize("mode", MODES)
def test_an_allowed_image_runs(settings: SandboxSettings, local_image: str, mode: SandboxMode) -> None:
    with _deployment(settings, mode=mode, allowed_images=(local_image,)) as deployment:
        result = DockerSandbox(f"allowed-{mode}", deployment, image=local_image).execute("echo ran")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ran"


@pytest.mark.parametrize("mode", MODES)
def test_an_images_entrypoint_never_replaces_the_command(settings: SandboxSettings, entrypoint_image: str, mode: SandboxMode) -> None:
    with _deployment(settings, mode=mode, allowed_images=(entrypoint_image,), timeout_seconds=20) as deployment:
        result = DockerSandbox(f"entrypoint-{mode}", deployment, image=entrypoint_image).execute("echo ran")
    assert result.exit_code == 0, result.output[:300]
    assert result.output.strip() == "ran"


# Writes 200 MB to the container's output behind the in-container cap's back: to the
# stream the wrapper itself writes the result to (its fd 3), which the command can reach through /proc.
_FLOOD = "w=/proc/1/fd/1; for p in /proc/[0-9]*; do [ -e $p/fd/3 ] && w=$p/fd/3; done; head -c 200000000 /dev/zero > $w; echo done"


@pytest.mark.parametrize("mode", MODES)
def test_output_past_the_cap_is_never_read_whole(settings: SandboxSettings, mode: SandboxMode) -> None:
    cap = 64 * 1024
    with _deployment(settings, mode=mode, max_output_bytes=cap) as deployment:
        ref = ThreadRef(user_id="flooder", thread_id=f"flood-{mode}", image=settings.image)
        run = run_ephemeral if mode == "ephemeral" else run_in_session
        started = time.monotonic()
        raw = run(deployment, ref, _FLOOD, 60)
        assert len(raw.output) <= cap + 1 + HOST_READ_SLACK_BYTES, f"the server read {len(raw.output)} bytes"
        assert time.monotonic() - started < 30, "a flood is stopped, not read until the timeout"
        assert raw.flooded

        result = DockerSandbox(f"flood-{mode}", deployment).execute(_FLOOD)
        assert result.truncated
        assert len(result.output) < cap + 1024
        assert "SANDBOX_MAX_OUTPUT_BYTES" in result.output
        # The thread works normally afterwards.
        assert DockerSandbox(f"flood-{mode}", deployment).execute("echo fine").output.strip() == "fine"
