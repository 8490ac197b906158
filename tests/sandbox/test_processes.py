"""Background processes in real Docker sandboxes: start, list, output, input, stop, caps, idle stops, restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import docker
import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings, ThreadRef
from sandbox.containers.container_spec import LABEL_THREAD, label_filter, labels_for
from sandbox.containers.removal import remove_thread_containers
from sandbox.processes import scripts
from sandbox.processes.manager import ProcessError, ProcessLimitError, ProcessManager
from sandbox.processes.records import ProcessRecord, processes_root
from tests.support.workspaces import remove_all_workspaces

pytestmark = [pytest.mark.docker]

Deploy = Callable[..., SandboxDeployment]


@pytest.fixture
def deploy(settings: SandboxSettings, docker_api: docker.APIClient) -> Iterator[Deploy]:
    """Deployments over the test's folders (more than one: a "restarted server"); every container removed after."""
    made: list[SandboxDeployment] = []

    def make(**overrides: object) -> SandboxDeployment:
        deployment = SandboxDeployment(settings.with_overrides(**overrides))
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.close(remove_sessions=True)
    for container in docker_api.containers(all=True, filters=label_filter(labels_for(settings))):
        remove_thread_containers(docker_api, settings, container["Labels"][LABEL_THREAD])


def _wait_for(manager: ProcessManager, ref: ThreadRef, process_id: str, text: bytes, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        _, seen, _, _ = manager.output(ref.thread_id, process_id, 0, 1 << 20)
        if text in seen:
            return seen
        time.sleep(0.2)
    pytest.fail(f"{text!r} never appeared in the output; saw {len(seen)} bytes ending {seen[-200:]!r}")


def _started(deployment: SandboxDeployment, user: str, command: str) -> tuple[ThreadRef, ProcessRecord]:
    ref = ThreadRef(user_id=user, thread_id=str(uuid.uuid4()), image=deployment.settings.image)
    return ref, deployment.processes.start(ref, command)


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_a_process_runs_in_the_background_takes_input_and_stops(deploy: Deploy, mode: str) -> None:
    deployment = deploy(mode=mode)
    manager = deployment.processes
    ref, record = _started(deployment, "alice", "echo ready; while read line; do echo got:$line; done")
    assert record.state == "running"

    _wait_for(manager, ref, record.process_id, b"ready\n")
    [listed] = manager.of_thread(ref.thread_id)
    assert (listed.process_id, listed.state, listed.command) == (record.process_id, "running", record.command)

    manager.send_input(ref.thread_id, record.process_id, "hello\n")
    output = _wait_for(manager, ref, record.process_id, b"got:hello\n")
    # Offsets are absolute: reading from the end of what was seen gives nothing new.
    _, more, start, after = manager.output(ref.thread_id, record.process_id, len(output), 1024)
    assert (more, start, after) == (b"", len(output), len(output))

    stopped = manager.stop(ref.thread_id, record.process_id)
    assert stopped.state == "ended"
    [listed] = manager.of_thread(ref.thread_id)
    assert listed.state == "ended"
    with pytest.raises(ProcessError):
        manager.send_input(ref.thread_id, record.process_id, "again\n")
    if mode == "ephemeral":  # its own container went with it
        api = deployment.api
        assert not api.containers(all=True, filters={"id": [record.container_id]})


def test_stop_ends_everything_the_process_started(deploy: Deploy, docker_api: docker.APIClient) -> None:
    deployment = deploy(mode="session")
    ref, record = _started(deployment, "alice", "sleep 300 & sleep 301 & echo up; wait")
    _wait_for(deployment.processes, ref, record.process_id, b"up\n")
    deployment.processes.stop(ref.thread_id, record.process_id)
    top = docker_api.top(record.container_id, ps_args="-eo pid,args")
    assert not [row for row in top["Processes"] if "sleep 30" in " ".join(row)], top


def test_a_process_that_exits_is_listed_with_its_exit_code(deploy: Deploy) -> None:
    deployment = deploy()
    ref, record = _started(deployment, "alice", "echo bye; exit 3")
    deadline = time.monotonic() + 20
    while (listed := deployment.processes.of_thread(ref.thread_id)[0]).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (listed.state, listed.exit_code) == ("ended", 3)
    _, output, _, _ = deployment.processes.output(ref.thread_id, record.process_id)
    assert output == b"bye\n"


def test_caps_per_thread_and_per_user(deploy: Deploy) -> None:
    deployment = deploy(max_processes_per_thread=1, max_processes_per_user=2)
    manager = deployment.processes
    ref, first = _started(deployment, "alice", "sleep 300")
    with pytest.raises(ProcessLimitError, match="SANDBOX_MAX_PROCESSES_PER_THREAD=1"):
        manager.start(ref, "sleep 300")
    _started(deployment, "alice", "sleep 300")
    with pytest.raises(ProcessLimitError, match="SANDBOX_MAX_PROCESSES_PER_USER=2"):
        _started(deployment, "alice", "sleep 300")
    _started(deployment, "bob", "sleep 300")  # another user is unaffected
    manager.stop(ref.thread_id, first.process_id)
    manager.start(ref, "sleep 300")  # an ended process no longer counts


def test_an_idle_process_is_stopped_and_an_active_one_is_not(deploy: Deploy) -> None:
    deployment = deploy(process_idle_ttl_seconds=60)
    _, record = _started(deployment, "alice", "sleep 300")
    assert deployment.processes.reap_idle(at=time.time() + 30) == []
    [stopped] = deployment.processes.reap_idle(at=time.time() + 61)
    assert stopped.process_id == record.process_id
    assert stopped.state == "ended"
    assert "SANDBOX_PROCESS_IDLE_TTL" in stopped.end_reason


def test_output_is_kept_bounded_outside_the_workspace(deploy: Deploy) -> None:
    cap = 64 * 1024
    deployment = deploy(process_output_bytes=cap)
    ref, record = _started(deployment, "alice", "head -c 300000 /dev/zero | tr '\\0' x; echo; echo END")
    _wait_for(deployment.processes, ref, record.process_id, b"END\n")
    synced = deployment.processes.get(ref.thread_id, record.process_id)
    assert synced.read == 300000 + 5
    assert synced.dropped == synced.read - cap
    log = processes_root(deployment.settings) / ref.thread_id / f"{record.process_id}.log"
    assert log.stat().st_size == cap
    assert not log.is_relative_to(deployment.settings.workspaces_dir)
    _, data, start, _ = deployment.processes.output(ref.thread_id, record.process_id, 0, 10)
    assert start == synced.dropped, "a reader asking for dropped output starts at the oldest kept byte"
    assert data == b"x" * 10


@pytest.mark.parametrize("mode", ["ephemeral", "session"])
def test_after_a_restart_a_running_process_is_reattached_and_a_gone_one_is_marked_ended(
    deploy: Deploy, docker_api: docker.APIClient, mode: str
) -> None:
    before = deploy(mode=mode)
    ref, running = _started(before, "alice", "echo one; read x; echo two:$x; sleep 300")
    other_ref, gone = _started(before, "alice", "sleep 300")
    _wait_for(before.processes, ref, running.process_id, b"one\n")
    before.close()

    after = deploy(mode=mode)  # a new server process: nothing in memory, the same folders and engine
    after.start()
    docker_api.remove_container(gone.container_id, force=True)
    [listed] = after.processes.of_thread(ref.thread_id)
    assert listed.state == "running"
    after.processes.send_input(ref.thread_id, running.process_id, "again\n")
    output = _wait_for(after.processes, ref, running.process_id, b"two:again\n")
    assert output == b"one\ntwo:again\n"
    [ended] = after.processes.of_thread(other_ref.thread_id)
    assert ended.state == "ended"
    assert "stopped or was removed" in ended.end_reason


def test_a_graceful_stop_leaves_the_container_of_a_running_process_and_stops_the_rest(deploy: Deploy, docker_api: docker.APIClient) -> None:
    """A server restart must not end the app the agent left running; an idle session container still stops."""
    deployment = deploy(mode="session")
    ref, running = _started(deployment, "alice", "echo up; sleep 300")
    _wait_for(deployment.processes, ref, running.process_id, b"up\n")
    idle = ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image=deployment.settings.image)
    assert DockerSandbox(idle.thread_id, deployment, user_id="alice").execute("true").exit_code == 0

    assert deployment.stop_sessions() == [idle.thread_id]
    assert docker_api.inspect_container(running.container_id)["State"]["Running"]
    [listed] = deployment.processes.of_thread(ref.thread_id)
    assert listed.state == "running"


def test_another_threads_process_is_not_found(deploy: Deploy) -> None:
    deployment = deploy()
    _, record = _started(deployment, "alice", "sleep 300")
    with pytest.raises(ProcessError) as refused:
        deployment.processes.get(str(uuid.uuid4()), record.process_id)
    assert refused.value.status == 404
    with pytest.raises(ProcessError):
        deployment.processes.get(record.thread_id, "../../etc")


def test_every_script_keeps_its_files_under_the_one_root() -> None:
    for script in (scripts.START, scripts.PROBE, scripts.SEND_INPUT, scripts.STOP):
        assert script.startswith(f"d={scripts.PROCESS_ROOT}/$1"), script


def test_a_look_racing_a_thread_delete_does_not_bring_its_records_back(deploy: Deploy) -> None:
    deployment = deploy()
    ref, record = _started(deployment, "alice", "sleep 300")
    deployment.processes.remove_thread(ref.thread_id)
    stale = deployment.processes.sync(record)  # a look that began before the delete
    assert stale.state == "ended"
    assert not (processes_root(deployment.settings) / ref.thread_id).exists()
    assert deployment.processes.of_thread(ref.thread_id) == []


def test_the_test_clean_up_removes_process_containers_a_stopped_server_left(deploy: Deploy, docker_api: docker.APIClient) -> None:
    deployment = deploy()
    _, record = _started(deployment, "alice", "sleep 300")
    remove_all_workspaces(deployment.settings)
    assert not docker_api.containers(all=True, filters={"id": [record.container_id]})
