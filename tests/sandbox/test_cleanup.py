"""What the server's lifecycle relies on: removing a thread's sandboxes, stopping, expiring, auditing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import docker

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.deployment import stop_all_sessions
from sandbox.containers.removal import list_containers, remove_expired_sessions, remove_thread, remove_workspace
from sandbox.disks.workspace import workspace_path


def _state(api: docker.APIClient, container_id: str) -> str:
    return api.inspect_container(container_id)["State"]["Status"]


def test_a_workspace_the_sandbox_locked_up_is_still_removed(session_deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    box = DockerSandbox("locked", session_deployment)
    result = box.execute(
        "mkdir -p a/b && echo x > a/b/f && chmod 000 a/b && chmod 500 a && ln -s / escape && ln -s /etc/passwd pw && chmod 500 ."
    )
    assert result.exit_code == 0, result.output
    workspace = workspace_path(settings, "locked")
    assert remove_workspace(settings, "locked") is True
    assert not workspace.exists()
    assert Path("/etc/passwd").exists(), "a symlink inside the workspace was followed"
    assert remove_workspace(settings, "locked") is False


def test_discarding_a_thread_removes_its_container_and_the_thread_can_start_over(
    session_deployment: SandboxDeployment, settings: SandboxSettings, docker_api: docker.APIClient
) -> None:
    box = DockerSandbox("removed", session_deployment)
    assert box.execute("echo one > one.txt").exit_code == 0
    [container] = list_containers(docker_api, settings, thread_id="removed")
    assert container.running
    assert container.mode == "session"

    assert remove_thread(docker_api, settings, "removed") == (1, True)
    assert list_containers(docker_api, settings, thread_id="removed") == []
    assert not workspace_path(settings, "removed").exists()
    # The deployment forgot the removed container: the next command starts a new one.
    assert box.execute("ls").exit_code == 0
    assert len(list_containers(docker_api, settings, thread_id="removed")) == 1


def test_stopping_all_sessions_stops_this_process_containers(session_deployment: SandboxDeployment, docker_api: docker.APIClient) -> None:
    for thread_id in ("stop-a", "stop-b"):
        assert DockerSandbox(thread_id, session_deployment).execute("true").exit_code == 0
    ids = [list_containers(docker_api, session_deployment.settings, thread_id=t)[0].container_id for t in ("stop-a", "stop-b")]
    assert set(stop_all_sessions()) >= {"stop-a", "stop-b"}
    assert [_state(docker_api, i) for i in ids] == ["exited", "exited"]
    # Stopped, not removed: the next command brings the thread's container back.
    assert DockerSandbox("stop-a", session_deployment).execute("true").exit_code == 0


def test_stopped_session_containers_expire_after_retention(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    settings = settings.with_overrides(mode="session", retention_seconds=2)
    deployment = SandboxDeployment(settings)
    try:
        for thread_id in ("expires", "keeps-running"):
            assert DockerSandbox(thread_id, deployment).execute("echo kept > kept.txt").exit_code == 0
        [stopped] = list_containers(docker_api, settings, thread_id="expires")
        [running] = list_containers(docker_api, settings, thread_id="keeps-running")
        docker_api.stop(stopped.container_id, timeout=1)

        assert remove_expired_sessions(docker_api, settings) == [], "removed before SANDBOX_RETENTION"
        time.sleep(3)
        assert remove_expired_sessions(docker_api, settings) == ["expires"]
        assert list_containers(docker_api, settings, thread_id="expires") == []
        assert _state(docker_api, running.container_id) == "running"
        assert (workspace_path(settings, "expires") / "kept.txt").read_text() == "kept\n", "retention keeps the workspace"
    finally:
        deployment.close(remove_sessions=True)


def test_every_command_is_audited_once_as_the_agent_asked(deployment: SandboxDeployment, settings: SandboxSettings) -> None:
    box = DockerSandbox("audited", deployment)
    assert box.execute("echo plain; exit 3").exit_code == 3
    offloaded = box.execute_with_offload("echo wrapped; exit 4", "/workspace/.capture", max_inline_bytes=1024)
    assert offloaded.response.exit_code == 4
    records = [json.loads(line) for line in settings.audit_log.read_text().splitlines()]
    assert [(r["event"], r["user"], r["thread"], r["command"], r["exit_code"]) for r in records] == [
        ("command", "local", "audited", "echo plain; exit 3", 3),
        ("command", "local", "audited", "echo wrapped; exit 4", 4),
    ]
    assert oct(os.stat(settings.audit_log).st_mode & 0o777) == "0o600"
