"""Many server processes, one Docker engine, one workspaces folder (real processes, real Docker).

Each "other process" is a spawned Python process with its own `SandboxDeployment`
(`tests/support/server_process.py`); the test process is one more. They share only
what separate servers share: the workspaces folder with its lock files, and the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import LABEL_OWNER, label_filter, labels_for
from sandbox.containers.removal import remove_thread
from sandbox.disks.workspace import workspace_path
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.docker

PATIENCE = 120.0
"""Seconds to wait for another process (spawning one imports the whole stack on a loaded machine)."""


def _wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _containers(api: docker.APIClient, settings: SandboxSettings, thread_id: str, mode: str, *, running: bool = False) -> list[dict]:
    filters = label_filter(labels_for(settings, thread_id=thread_id, mode=mode))  # type: ignore[arg-type]
    return api.containers(all=not running, filters=filters)


def _started(settings: SandboxSettings, thread_id: str) -> Callable[[], bool]:
    """True once a command written as `touch started; ...` is running in the thread's sandbox."""
    marker = workspace_path(settings, thread_id) / "started"
    return marker.exists


@pytest.fixture
def spawn() -> Iterator[Callable[[SandboxSettings], ServerProcess]]:
    """Start other server processes on demand; every one is ended after the test."""
    started: list[ServerProcess] = []

    def start(settings: SandboxSettings) -> ServerProcess:
        process = ServerProcess(settings)
        started.append(process)
        process.call("start").result(PATIENCE)  # connected, leased, swept: ready
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture
def session_settings(settings: SandboxSettings) -> Iterator[SandboxSettings]:
    session = settings.with_overrides(mode="session")
    yield session
    SandboxDeployment(session).close(remove_sessions=False)  # the fixture `settings` removes workspaces
    api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    for container in api.containers(all=True, filters=label_filter(labels_for(session))):
        api.remove_container(container["Id"], force=True)
    api.close()


def test_a_startup_sweep_spares_a_live_process_and_removes_a_killed_ones(
    settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    live, doomed = spawn(settings), spawn(settings)
    # The live command runs until the test says "go" (after the sweep), however slow the machine.
    until_go = "touch started; for i in $(seq 400); do [ -e go ] && break; sleep 0.2; done; echo live-done"
    running = live.call("execute", "mp-live", until_go, "local")
    doomed.call("execute", "mp-doomed", "touch started; sleep 300", "local")
    _wait_for(_started(settings, "mp-live"), "the live process's command to run")
    _wait_for(_started(settings, "mp-doomed"), "the doomed process's command to run")
    [live_container] = _containers(docker_api, settings, "mp-live", "ephemeral")
    [doomed_container] = _containers(docker_api, settings, "mp-doomed", "ephemeral")
    assert live_container["Labels"][LABEL_OWNER] != doomed_container["Labels"][LABEL_OWNER]
    doomed.kill()  # a crash: its container keeps running, nobody removes it

    spawn(settings)  # a new server process: its startup sweeps

    assert _containers(docker_api, settings, "mp-doomed", "ephemeral") == [], "a dead process's container survived the sweep"
    assert [c["Id"] for c in _containers(docker_api, settings, "mp-live", "ephemeral")] == [live_container["Id"]]
    (workspace_path(settings, "mp-live") / "go").touch()
    assert running.result(PATIENCE) == (0, "live-done\n"), "the sweep broke a live process's command"


def test_two_processes_racing_on_a_threads_first_command_start_one_container(
    session_settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    first, second = spawn(session_settings), spawn(session_settings)
    threads = [f"race-{i}" for i in range(4)]
    answers = {
        (name, thread_id): process.call("execute", thread_id, "cat /etc/hostname", "local")
        for thread_id in threads
        for name, process in (("first", first), ("second", second))
    }
    for thread_id in threads:
        one = answers["first", thread_id].result(PATIENCE)
        other = answers["second", thread_id].result(PATIENCE)
        assert one[0] == other[0] == 0, (one, other)
        assert one[1] == other[1], f"{thread_id}: the two processes ran in different containers"
        assert len(_containers(docker_api, session_settings, thread_id, "session")) == 1


def test_any_process_finds_the_session_container_another_started(
    session_settings: SandboxSettings, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    other = spawn(session_settings)
    made = other.call("execute", "found", "echo from-the-other > /tmp/note; cat /etc/hostname", "local").result(PATIENCE)
    assert made[0] == 0, made
    here = SandboxDeployment(session_settings)  # this process has never seen the thread
    try:
        result = DockerSandbox("found", here).execute("cat /tmp/note /etc/hostname")
    finally:
        here.close()
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["from-the-other", made[1].strip()]


def test_no_process_stops_a_container_another_process_runs_a_command_in(
    session_settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    other = spawn(session_settings)
    busy = other.call("execute", "busy", "touch started; sleep 8; echo busy-done", "local")
    _wait_for(_started(session_settings, "busy"), "the other process's command to run")
    [container] = _containers(docker_api, session_settings, "busy", "session", running=True)

    here = SandboxDeployment(session_settings.with_overrides(max_containers=1, idle_ttl_seconds=1))
    try:
        here.start()
        far_future = time.time() + 10**6
        assert here.reap_idle(now=far_future) == [], "the idle reaper stopped a container in use"
        # Over SANDBOX_MAX_CONTAINERS=1: the only other container is busy, so it is not stopped.
        assert DockerSandbox("mine", here).execute("echo mine").output == "mine\n"
        # A graceful stop stops what this process used last, never the busy one.
        assert here.stop_sessions() == ["mine"]
        assert docker_api.inspect_container(container["Id"])["State"]["Running"]
        assert busy.result(PATIENCE) == (0, "busy-done\n"), "the other process lost its command"

        # Idle now: a graceful stop still leaves it (another process used it last), the reaper does not.
        assert here.stop_sessions() == []
        assert here.reap_idle(now=far_future) == ["busy"]
        assert not docker_api.inspect_container(container["Id"])["State"]["Running"]
    finally:
        here.close()


def test_per_user_container_caps_hold_across_processes(
    session_settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    capped = session_settings.with_overrides(max_containers_per_user=1, max_running_per_user=4)
    other = spawn(capped)
    busy = other.call("execute", "cap-a1", "touch started; sleep 8; echo a1-done", "user-a")
    _wait_for(_started(capped, "cap-a1"), "user-a's command in the other process")
    here = SandboxDeployment(capped)
    try:
        refused = DockerSandbox("cap-a2", here, user_id="user-a").execute("echo should-not-run")
        assert refused.exit_code is None
        assert "SANDBOX_MAX_CONTAINERS_PER_USER=1" in refused.output
        assert DockerSandbox("cap-b1", here, user_id="user-b").execute("echo b-runs").output == "b-runs\n"
        assert busy.result(PATIENCE) == (0, "a1-done\n")
        # Idle now: this process stops the other process's container of user-a to make room.
        assert DockerSandbox("cap-a2", here, user_id="user-a").execute("echo a2-runs").output == "a2-runs\n"
        running = docker_api.containers(filters=label_filter(labels_for(capped, user_id="user-a")))
        assert ["cap-a2" in c["Names"][0] for c in running] == [True]
    finally:
        here.close()


def test_a_start_in_another_process_makes_this_one_list_again_before_counting(
    session_settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    """A start lock holder passes its listing on within its process only while no other process held the lock since.

    Here user-a's containers go here, there, here, here under a cap of 3: the last start must
    stop one of them, which this process only knows if it did not count from the listing
    it had passed on before the other process started its container.
    """
    capped = session_settings.with_overrides(max_containers_per_user=3)
    other = spawn(capped)
    here = SandboxDeployment(capped)
    try:
        assert DockerSandbox("order-1", here, user_id="user-a").execute("true").exit_code == 0
        assert other.call("execute", "order-2", "true", "user-a").result(PATIENCE) == (0, "")
        for thread_id in ("order-3", "order-4"):
            assert DockerSandbox(thread_id, here, user_id="user-a").execute("true").exit_code == 0
        running = docker_api.containers(filters=label_filter(labels_for(capped, user_id="user-a", mode="session")))
        assert len(running) == 3, [c["Names"] for c in running]
    finally:
        here.close()


def test_a_thread_deleted_through_one_process_is_gone_for_all(
    session_settings: SandboxSettings, docker_api: docker.APIClient, spawn: Callable[[SandboxSettings], ServerProcess]
) -> None:
    other = spawn(session_settings)
    assert other.call("execute", "deleted", "echo kept > kept.txt", "local").result(PATIENCE)[0] == 0
    [before] = _containers(docker_api, session_settings, "deleted", "session")

    # Served by this process; the other process happens to remove the same thread at once (two reconcilers).
    there = other.call("remove", "deleted")
    here = remove_thread(docker_api, session_settings, "deleted")
    elsewhere = there.result(PATIENCE)
    assert here[0] + elsewhere[0] == 1, (here, elsewhere)
    assert here[1] or elsewhere[1]
    assert _containers(docker_api, session_settings, "deleted", "session") == []
    assert not Path(workspace_path(session_settings, "deleted")).exists()
    # The other process's cached container is gone: its next command finds that out and starts over.
    again = other.call("execute", "deleted", "ls", "local").result(PATIENCE)
    assert again == (0, ""), again
    [after] = _containers(docker_api, session_settings, "deleted", "session")
    assert after["Id"] != before["Id"]
