"""The one-host assumption: a Docker Engine on another machine is refused at startup.

Also: building a deployment never touches Docker; `start()` is the one call that does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.graph import build_agent
from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.docker_api import engine_is_local, require_local_engine
from sandbox.runs.errors import DockerUnavailableError, RemoteDockerError, SandboxError


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "unix:///var/run/docker.sock",
        "unix:///run/user/1000/docker.sock",
        "tcp://127.0.0.1:2375",
        "tcp://127.1.2.3:2376",
        "tcp://localhost:2375",
        "tcp://LOCALHOST:2375",
        "tcp://[::1]:2375",
        "http://127.0.0.1:2375",
        "fd://",
    ],
)
def test_local_engines(host: str | None) -> None:
    assert engine_is_local(host)
    require_local_engine(host)


@pytest.mark.parametrize(
    "host",
    [
        "tcp://10.0.0.5:2375",
        "tcp://docker.internal:2376",
        "tcp://192.168.1.1",
        "tcp://[2001:db8::1]:2375",
        "tcp://0.0.0.0:2375",
        "ssh://user@build-host",
        "ssh://localhost",
        "https://docker.example.com:2376",
        "weird://127.0.0.1",
    ],
)
def test_remote_engines_are_refused_with_the_reason(host: str) -> None:
    assert not engine_is_local(host)
    with pytest.raises(RemoteDockerError) as info:
        require_local_engine(host)
    text = str(info.value)
    assert host in text
    assert "SANDBOX_WORKSPACES_DIR" in text
    assert "same path" in text


@pytest.fixture
def settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(image="img:x", workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared")


def test_the_graph_refuses_to_build_for_a_remote_engine(monkeypatch: pytest.MonkeyPatch, settings: SandboxSettings) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://someone@elsewhere")
    with pytest.raises(RemoteDockerError, match="another machine"):
        build_agent(settings)


def test_a_deployment_refuses_a_remote_engine_before_connecting(monkeypatch: pytest.MonkeyPatch, settings: SandboxSettings) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2375")
    deployment = SandboxDeployment(settings)
    with pytest.raises(RemoteDockerError):
        deployment.start()
    result = DockerSandbox("t1", deployment).execute("echo hi")
    assert result.exit_code is None
    assert result.output.startswith("Sandbox error: DOCKER_HOST=tcp://10.0.0.5:2375 points at a Docker Engine on another machine")


def test_building_touches_no_docker_and_start_is_retried(
    monkeypatch: pytest.MonkeyPatch, settings: SandboxSettings, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    deployment = SandboxDeployment(settings)
    with pytest.raises(SandboxError, match=r"start\(\) has not connected"):
        _ = deployment.api
    for _ in range(2):  # a failed start is not remembered: the next call tries again
        with pytest.raises(DockerUnavailableError, match=r"no-such\.sock"):
            deployment.start()
    result = DockerSandbox("t1", deployment).execute("echo hi")
    assert result.exit_code is None
    assert "Docker is not reachable" in result.output
