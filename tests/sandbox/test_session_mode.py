"""Session mode: one long-lived container per thread, reused, found again, and reaped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers import start_lock
from sandbox.containers.container_spec import LABEL_THREAD, label_filter, labels_for
from tests.support.call_log import record_calls

pytestmark = pytest.mark.docker

PATIENCE = 60.0


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _session_containers(api: docker.APIClient, settings: SandboxSettings, thread_id: str | None = None) -> list[dict]:
    return api.containers(all=True, filters=label_filter(labels_for(settings, thread_id=thread_id, mode="session")))


def _running(api: docker.APIClient, container_id: str) -> bool:
    return bool(api.inspect_container(container_id)["State"]["Running"])


def test_container_is_reused_across_commands(session_deployment: SandboxDeployment, docker_api: docker.APIClient) -> None:
    box = DockerSandbox("reuse", session_deployment)
    assert box.execute("echo state > /tmp/kept && hostname").exit_code == 0
    first = box.execute("cat /tmp/kept; hostname").output.split()
    assert first[0] == "state"
    assert len(_session_containers(docker_api, session_deployment.settings, "reuse")) == 1


def test_restarted_server_picks_up_the_container(session_deployment: SandboxDeployment, docker_api: docker.APIClient) -> None:
    settings = session_deployment.settings
    DockerSandbox("pickup", session_deployment).execute("echo installed > /tmp/package")
    before = _session_containers(docker_api, settings, "pickup")
    restarted = SandboxDeployment(settings)  # a new server process: no in-memory state
    try:
        result = DockerSandbox("pickup", restarted).execute("cat /tmp/package")
        assert result.output.strip() == "installed"
        after = _session_containers(docker_api, settings, "pickup")
        assert [c["Id"] for c in after] == [c["Id"] for c in before]
    finally:
        restarted.close()


def test_idle_container_is_stopped(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session", idle_ttl_seconds=60))
    try:
        DockerSandbox("idle", deployment).execute("true")
        (container,) = _session_containers(docker_api, deployment.settings, "idle")
        assert deployment.reap_idle(now=time.time() + 1) == []
        assert deployment.reap_idle(now=time.time() + 61) == ["idle"]
        assert not _running(docker_api, container["Id"])
        # The next command starts it again, with its writable layer intact.
        assert DockerSandbox("idle", deployment).execute("echo back").output.strip() == "back"
        assert _running(docker_api, container["Id"])
    finally:
        deployment.close(remove_sessions=True)


def test_least_recently_used_container_is_stopped_beyond_the_cap(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session", max_containers=2))
    try:
        for thread_id in ("lru-a", "lru-b", "lru-c"):
            DockerSandbox(thread_id, deployment).execute("true")
            time.sleep(0.05)
        running = {
            c["Labels"]["io.github.deepagents-docker-sandbox.thread"]
            for c in _session_containers(docker_api, deployment.settings)
            if c["State"] == "running"
        }
        _wait_for(lambda: deployment.running_session_threads() == ["lru-b", "lru-c"], "the least recently used container to stop")
        running = {
            c["Labels"]["io.github.deepagents-docker-sandbox.thread"]
            for c in _session_containers(docker_api, deployment.settings)
            if c["State"] == "running"
        }
        assert running == {"lru-b", "lru-c"}
    finally:
        deployment.close(remove_sessions=True)


def test_a_first_command_over_the_total_cap_does_not_wait_for_another_container_to_stop(
    settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping the least recently used container makes room in the background, outside the start lock.

    Every thread's first command waits for that lock in turn; a stop under it (a
    second or more under load) would hold all of them up behind another thread's container.
    """
    deployment = SandboxDeployment(settings.with_overrides(mode="session", max_containers=1))
    release, stopping = threading.Event(), threading.Event()
    try:
        assert DockerSandbox("room-a", deployment).execute("true").exit_code == 0
        real_stop = deployment.api.stop

        def held_stop(*args: object, **kwargs: object) -> object:
            stopping.set()
            release.wait(PATIENCE)
            return real_stop(*args, **kwargs)

        monkeypatch.setattr(deployment.api, "stop", held_stop)
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(DockerSandbox("room-b", deployment).execute, "echo b")
            try:
                assert second.result(timeout=PATIENCE / 2).output == "b\n"
                assert stopping.wait(PATIENCE), "the container over the cap was never stopped"
            finally:
                release.set()
        _wait_for(lambda: deployment.running_session_threads() == ["room-b"], "room-a to stop")
    finally:
        release.set()
        deployment.close(remove_sessions=True)


def test_timeout_kills_the_command_not_the_container(session_deployment: SandboxDeployment, docker_api: docker.APIClient) -> None:
    box = DockerSandbox("slow", session_deployment)
    box.execute("echo before > /tmp/marker")
    started = time.monotonic()
    result = box.execute("sleep 3000 & sleep 3000", timeout=3)
    assert time.monotonic() - started < 15
    assert result.exit_code == 124
    assert "timed out" in result.output
    (container,) = _session_containers(docker_api, session_deployment.settings, "slow")
    assert _running(docker_api, container["Id"])
    after = box.execute("cat /tmp/marker; ps -eo args | grep -c '^sleep 3000' || true")
    lines = after.output.split()
    assert lines[0] == "before"
    assert lines[1] == "0"


def test_restarted_server_reaps_containers_it_never_touched(session_deployment: SandboxDeployment, docker_api: docker.APIClient) -> None:
    settings = session_deployment.settings
    DockerSandbox("orphan", session_deployment).execute("true")
    (container,) = _session_containers(docker_api, settings, "orphan")
    restarted = SandboxDeployment(settings.with_overrides(idle_ttl_seconds=60))
    try:
        restarted.start()  # it finds running session containers from their labels
        assert restarted.running_session_threads() == ["orphan"]
        assert restarted.reap_idle(now=time.time() + 61) == ["orphan"]
        assert not _running(docker_api, container["Id"])
    finally:
        restarted.close()


def test_container_stopped_or_removed_behind_our_back_is_replaced(
    session_deployment: SandboxDeployment, docker_api: docker.APIClient
) -> None:
    box = DockerSandbox("vanish", session_deployment)
    box.execute("true")
    (container,) = _session_containers(docker_api, session_deployment.settings, "vanish")
    docker_api.stop(container["Id"], timeout=1)
    assert box.execute("echo restarted").output.strip() == "restarted"
    docker_api.remove_container(container["Id"], force=True)
    assert box.execute("echo recreated").output.strip() == "recreated"
    assert len(_session_containers(docker_api, session_deployment.settings, "vanish")) == 1


@pytest.mark.parametrize(("reuse_seconds", "scope_listed"), [(600.0, 1), (0.0, 3)], ids=["passed-on", "too-old"])
def test_new_threads_in_a_row_list_the_running_containers_once(
    session_deployment: SandboxDeployment, monkeypatch: pytest.MonkeyPatch, reuse_seconds: float, scope_listed: int
) -> None:
    """Each start lock holder passes its listing, with its start, to the next in this process, while it is young enough.

    Containers start only under that lock, so the next holder knows everything Docker would
    say but for stops; without this, each of a burst of new threads' first commands listed
    every running container again, one after another under the lock.
    """
    monkeypatch.setattr(start_lock, "LISTING_REUSE_SECONDS", reuse_seconds)
    listings = record_calls(monkeypatch, session_deployment.start(), "containers")
    hosts = [DockerSandbox(f"in-a-row-{i}", session_deployment).execute("cat /etc/hostname").output for i in range(3)]
    assert len(set(hosts)) == 3, hosts
    filters = [kwargs.get("filters") or {} for _, kwargs in listings]
    scope_listings = [f for f in filters if not any(label.startswith(LABEL_THREAD) for label in f.get("label", []))]
    assert len(scope_listings) == scope_listed, scope_listings
    assert sorted(session_deployment.running_session_threads()) == [f"in-a-row-{i}" for i in range(3)]


def test_a_new_threads_first_command_asks_docker_for_two_listings(
    session_deployment: SandboxDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the start lock, the thread's own containers in any state; under it, every running one of the scope.

    Every other thread's first command waits for the lock, so what is done under it is kept
    short: a thread that had no container before the lock has only a running one after it
    (containers are started under the same lock), and that one is in the listing of running ones.
    """
    asked = record_calls(monkeypatch, session_deployment.start(), "containers")
    assert DockerSandbox("listed-twice", session_deployment).execute("true").exit_code == 0
    assert len(asked) == 2, asked
