"""A command whose container is removed while it runs says so, not that it ran out of memory.

A thread delete, an operator's `docker rm -f` or a sweep can remove a container
under a running command; Docker then reports exit 137, the same code as an OOM
kill, and a message naming the memory limit would send the reader after the
wrong cause.
"""

from __future__ import annotations

import threading
import time

import docker
import pytest
from deepagents.backends.protocol import ExecuteResponse

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from sandbox.disks.workspace import workspace_path

pytestmark = pytest.mark.docker

REMOVED = "its sandbox container was stopped or removed while it ran"


def _run_and_remove(deployment: SandboxDeployment, api: docker.APIClient, thread_id: str) -> ExecuteResponse:
    sandbox = DockerSandbox(thread_id, deployment)
    result: list[ExecuteResponse] = []
    worker = threading.Thread(target=lambda: result.append(sandbox.execute("touch started; sleep 60; echo never")))
    worker.start()
    marker = workspace_path(deployment.settings, thread_id) / "started"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)
    for container in api.containers(filters=label_filter(labels_for(deployment.settings, thread_id=thread_id))):
        api.remove_container(container["Id"], force=True)
    worker.join(60)
    assert not worker.is_alive(), "the command did not end when its container was removed"
    return result[0]


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_a_command_whose_container_is_removed_says_so(settings: SandboxSettings, docker_api: docker.APIClient, mode: str) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode=mode))
    try:
        response = _run_and_remove(deployment, docker_api, f"removed-{mode}")
    finally:
        deployment.close(remove_sessions=True)
    assert response.exit_code == 137
    assert REMOVED in response.output, response.output
    assert "memory limit" not in response.output
    assert "never" not in response.output


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_a_command_killed_for_memory_still_names_the_limit(settings: SandboxSettings, mode: str) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode=mode, memory_bytes=64 * 1024**2))
    try:
        response = DockerSandbox(f"oom-{mode}", deployment).execute("python3 -c 'b = bytearray(512 * 1024 * 1024)'")
    finally:
        deployment.close(remove_sessions=True)
    assert "the sandbox memory limit is 64 MiB" in response.output, response.output
    assert REMOVED not in response.output
