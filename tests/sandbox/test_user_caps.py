"""Per-user caps (real Docker): one user at a cap is refused with a clear message, others are not.

Two users share one deployment; `user-a` fills its cap with slow commands while
`user-b` keeps working. Counts are shared state (lock files, Docker labels), so a
second process sees them too.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import docker
import pytest

from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.container_spec import LABEL_USER, label_filter, labels_for
from sandbox.coordination.user_caps import running_slot
from sandbox.runs.errors import UserCapError

SLOW = "sleep 6; echo slow-done"


def _wait_for(condition: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _running(api: docker.APIClient, settings: SandboxSettings, user_id: str) -> int:
    return len(api.containers(filters=label_filter(labels_for(settings, user_id=user_id))))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def test_running_commands_are_capped_per_user(settings: SandboxSettings, docker_api: docker.APIClient, pool: ThreadPoolExecutor) -> None:
    capped = settings.with_overrides(max_running_per_user=2)
    deployment = SandboxDeployment(capped)
    try:
        a1, a2, a3 = (DockerSandbox(f"a-thread-{i}", deployment, user_id="user-a") for i in (1, 2, 3))
        b1 = DockerSandbox("b-thread-1", deployment, user_id="user-b")
        slow: list[Future] = [pool.submit(box.execute, SLOW) for box in (a1, a2)]
        _wait_for(lambda: _running(docker_api, capped, "user-a") == 2, "user-a's two commands to run")

        refused = a3.execute("echo should-not-run")
        assert refused.exit_code is None
        assert "SANDBOX_MAX_RUNNING_PER_USER=2" in refused.output
        assert "should-not-run" not in refused.output
        other = b1.execute("echo user-b-runs")  # another user is unaffected
        assert other.exit_code == 0, other.output
        assert other.output.strip() == "user-b-runs"

        assert [f.result().output.strip() for f in slow] == ["slow-done", "slow-done"]
        again = a3.execute("echo a-again")  # slots come back when commands finish
        assert again.output.strip() == "a-again", again.output
    finally:
        deployment.close(remove_sessions=True)


def _hold_slots(settings: SandboxSettings, user_id: str, ready: Any) -> None:
    with running_slot(settings, user_id), running_slot(settings, user_id):
        ready.set()
        time.sleep(120)  # until killed


def test_running_slots_are_shared_with_other_processes_and_freed_when_they_die(settings: SandboxSettings) -> None:
    capped = settings.with_overrides(max_running_per_user=2)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    other = context.Process(target=_hold_slots, args=(capped, "user-a", ready))
    other.start()
    try:
        assert ready.wait(60), "the other process took both slots"
        with pytest.raises(UserCapError, match="SANDBOX_MAX_RUNNING_PER_USER"), running_slot(capped, "user-a"):
            pass
        with running_slot(capped, "user-b"):  # another user is unaffected
            pass
    finally:
        other.kill()  # a crash: no clean-up code runs
        other.join(30)
    with running_slot(capped, "user-a"), running_slot(capped, "user-a"):
        pass


def test_session_containers_are_capped_per_user(settings: SandboxSettings, docker_api: docker.APIClient, pool: ThreadPoolExecutor) -> None:
    capped = settings.with_overrides(mode="session", max_containers_per_user=1, max_running_per_user=4)
    deployment = SandboxDeployment(capped)
    try:
        a1, a2 = (DockerSandbox(f"a-session-{i}", deployment, user_id="user-a") for i in (1, 2))
        b1 = DockerSandbox("b-session-1", deployment, user_id="user-b")
        busy = pool.submit(a1.execute, SLOW)
        _wait_for(lambda: _running(docker_api, capped, "user-a") == 1, "user-a's first session container")

        refused = a2.execute("echo should-not-run")
        assert refused.exit_code is None
        assert "SANDBOX_MAX_CONTAINERS_PER_USER=1" in refused.output
        assert "should-not-run" not in refused.output
        assert b1.execute("echo user-b-runs").output.strip() == "user-b-runs"
        assert busy.result().output.strip() == "slow-done"

        # Once a1 is idle, a2 may have a container: a1's idle one is stopped for it.
        assert a2.execute("echo a2-runs").output.strip() == "a2-runs"
        running = docker_api.containers(filters=label_filter(labels_for(capped, user_id="user-a")))
        assert [c["Labels"][LABEL_USER] for c in running] == ["user-a"]
        assert "a-session-2" in running[0]["Names"][0]
    finally:
        deployment.close(remove_sessions=True)


def test_containers_carry_their_user(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session"))
    try:
        DockerSandbox("labelled", deployment, user_id="someone@example.com").execute("true")
        [container] = docker_api.containers(filters=label_filter(labels_for(deployment.settings, thread_id="labelled")))
        assert container["Labels"][LABEL_USER] == "someone@example.com"
    finally:
        deployment.close(remove_sessions=True)
