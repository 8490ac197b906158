"""The warm pool (real Docker): new threads take pooled containers, see only their own folders, and caps count them.

Pooled containers are hardened session containers started ahead with no thread;
a thread's first command claims one and its folders are bound into it on the host
(mount propagation). These tests check the claim from the outside (labels and claim
files), and the folders from inside the container, where the agent's shell runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers import warm_pool
from sandbox.containers.container_spec import LABEL_OWNER, label_filter, labels_for
from sandbox.containers.in_use import running_sandboxes
from sandbox.containers.live_view import live_sandboxes
from sandbox.containers.pool_claims import DRAINING, LABEL_POOL, Claim, claim, pool_dir, read_claim, release
from sandbox.containers.removal import remove_thread
from sandbox.containers.warm_pool import REFILL_DELAY, pool_filter
from sandbox.disks.quota_disks import snapshots_disk
from sandbox.disks.spare_images import spares
from sandbox.disks.workspace import ThreadRef
from sandbox.previews.folders import previews_path
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots, remove_snapshots
from tests.support.call_log import record_calls
from tests.support.pool import wait_for_full_pool
from tests.support.server_process import ServerProcess
from tests.support.workspaces import mounts_under

pytestmark = pytest.mark.docker

PATIENCE = 120.0


def _wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _untaken(api: docker.APIClient, settings: SandboxSettings) -> list[dict]:
    return [c for c in api.containers(filters=pool_filter(settings)) if read_claim(settings, c["Labels"][LABEL_POOL]) is None]


@pytest.fixture
def pooled(settings: SandboxSettings, docker_api: docker.APIClient) -> Iterator[SandboxDeployment]:
    """A session deployment with a pool of two, filled."""
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=2))
    deployment.start()
    _wait_for(lambda: len(_untaken(docker_api, deployment.settings)) == 2, "the pool to fill")
    yield deployment
    deployment.close(remove_sessions=True)
    for container in docker_api.containers(all=True, filters=label_filter(labels_for(deployment.settings))):
        docker_api.remove_container(container["Id"], force=True)


def _container_of(box: DockerSandbox, api: docker.APIClient) -> dict:
    """The one running session container of `box`'s thread (the test asks Docker, not the deployment's cache)."""
    settings = box.deployment.settings
    found = [
        c
        for c in api.containers(filters=label_filter(labels_for(settings, mode="session")))
        if (c["Labels"].get(LABEL_POOL) and read_claim(settings, c["Labels"][LABEL_POOL]) == Claim(box.thread_id, box.thread().user_id))
    ]
    assert len(found) == 1, found
    return found[0]


def test_first_command_takes_a_pooled_container_with_its_own_folders(pooled: SandboxDeployment, docker_api: docker.APIClient) -> None:
    settings = pooled.settings
    before = {c["Id"] for c in _untaken(docker_api, settings)}
    alice = DockerSandbox("pool-alice", pooled, user_id="alice")
    bob = DockerSandbox("pool-bob", pooled, user_id="bob")
    assert alice.write("/workspace/from-tools.txt", "alice's file\n").error is None
    assert alice.write("/memories/AGENTS.md", "alice remembers\n").error is None

    result = alice.execute("cat /workspace/from-tools.txt /memories/AGENTS.md; echo shell > /workspace/from-shell.txt; pwd; id -u")
    assert result.exit_code == 0, result.output
    assert "alice's file" in result.output
    assert "alice remembers" in result.output
    assert f"/workspace\n{settings.uid}" in result.output
    container = _container_of(alice, docker_api)
    assert container["Id"] in before  # taken from the pool, not created
    assert alice.read("/workspace/from-shell.txt").error is None  # the file tools see what the shell wrote

    other = bob.execute("ls -A /workspace /memories")
    assert other.exit_code == 0, other.output
    assert "from-tools.txt" not in other.output
    assert "AGENTS.md" not in other.output
    assert _container_of(bob, docker_api)["Id"] in before
    assert _container_of(bob, docker_api)["Id"] != container["Id"]


def test_a_pooled_container_shows_its_threads_preview_folder(pooled: SandboxDeployment, docker_api: docker.APIClient) -> None:
    """Preview relays put their sockets in `/run/previews`: in a pooled container it must be the thread's folder too."""
    before = {c["Id"] for c in _untaken(docker_api, pooled.settings)}
    box = DockerSandbox("pool-previews", pooled, user_id="alice")
    result = box.execute("touch /run/previews/probe && ls /run/previews")
    assert result.exit_code == 0, result.output
    assert _container_of(box, docker_api)["Id"] in before
    assert (previews_path(pooled.settings, "pool-previews") / "probe").exists()


@contextlib.contextmanager
def _stuck_handing_over(monkeypatch: pytest.MonkeyPatch, thread_id: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Binding `thread_id`'s folders into its pooled container waits for the yielded `release` (`entered` is set first)."""
    entered, release_it = threading.Event(), threading.Event()
    real_attach = warm_pool.attach

    def attach(settings: SandboxSettings, slot: str, sources: dict[str, Path]) -> None:
        if any(thread_id in str(source) for source in sources.values()):
            entered.set()
            release_it.wait(PATIENCE)
        real_attach(settings, slot, sources)

    monkeypatch.setattr(warm_pool, "attach", attach)
    try:
        yield entered, release_it
    finally:
        release_it.set()


def test_a_first_command_does_not_wait_for_another_threads_folders_to_be_bound(
    pooled: SandboxDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binding a thread's folders happens after the session start lock, which every new thread's first command waits for.

    In a burst of new threads each first command used to hold that lock for its binds too.
    """
    with ThreadPoolExecutor(2) as workers, _stuck_handing_over(monkeypatch, "slow-binds") as (entered, release_it):
        slow = workers.submit(DockerSandbox("slow-binds", pooled, user_id="alice").execute, "true")
        assert entered.wait(PATIENCE)
        other = workers.submit(DockerSandbox("quick-binds", pooled, user_id="bob").execute, "true")
        try:
            assert other.result(timeout=30).exit_code == 0
        finally:
            release_it.set()
        assert slow.result(timeout=PATIENCE).exit_code == 0


def test_a_threads_second_first_command_waits_until_its_folders_are_bound(
    pooled: SandboxDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first commands of one thread at once (parallel tool calls, two processes): the second is never handed
    the claimed container before the first has bound the thread's folders into it."""
    alice = DockerSandbox("two-firsts", pooled, user_id="alice")
    assert alice.write("/workspace/seen.txt", "the thread's own\n").error is None
    with ThreadPoolExecutor(2) as workers, _stuck_handing_over(monkeypatch, "two-firsts") as (entered, release_it):
        first = workers.submit(alice.execute, "cat /workspace/seen.txt")
        assert entered.wait(PATIENCE)
        second = workers.submit(DockerSandbox("two-firsts", pooled, user_id="alice").execute, "cat /workspace/seen.txt")
        time.sleep(2.0)
        assert not second.done(), second.result()
        release_it.set()
        for result in (first.result(timeout=PATIENCE), second.result(timeout=PATIENCE)):
            assert result.exit_code == 0, result.output
            assert "the thread's own" in result.output


def test_a_taken_pooled_container_is_its_threads_and_users_running_sandbox(pooled: SandboxDeployment, docker_api: docker.APIClient) -> None:
    """A graceful stop leaves mounted what running containers use; a pooled one's thread is in its claim, not its labels."""
    box = DockerSandbox("pool-in-use", pooled, user_id="carol")
    assert box.execute("true").exit_code == 0
    in_use = running_sandboxes(docker_api, pooled.settings)
    assert "pool-in-use" in in_use.threads
    assert "carol" in in_use.users
    # The admin view names its owner too.
    [listed] = [box for box in live_sandboxes(docker_api, pooled.settings) if box.thread_id == "pool-in-use"]
    assert listed.user_id == "carol"


def test_a_new_threads_snapshot_store_is_a_spare_made_ahead(pooled: SandboxDeployment) -> None:
    """Formatting a snapshot store costs as much as formatting a workspace: a new thread's first change takes one made ahead."""
    disk = snapshots_disk(pooled.settings, "spare")
    _wait_for(lambda: len(spares(disk.image.parent, disk.size)) >= 2, "the pool's spare snapshot stores")
    ready = set(spares(disk.image.parent, disk.size))

    WorkspaceSnapshots(pooled.settings).ensure_root("alice", "pool-snapshots")
    try:
        assert len(ready - set(spares(disk.image.parent, disk.size))) == 1  # one was taken (the pool may have made more since)
        assert snapshots_disk(pooled.settings, "pool-snapshots").image.exists()
    finally:
        remove_snapshots(pooled.settings, "pool-snapshots")


def test_a_pool_fills_when_a_disk_kind_is_off(settings: SandboxSettings) -> None:
    """With `SANDBOX_ARTIFACTS_QUOTA=0` threads have no artifacts disk, so the pool keeps no spares of one and is full without."""
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=1, artifacts_quota_bytes=0))
    try:
        wait_for_full_pool(deployment)
    finally:
        deployment.close(remove_sessions=True)


@pytest.mark.parametrize(
    "pause",
    [pytest.param(REFILL_DELAY / 3, id="short-commands"), pytest.param(1.5, id="steps-of-turns")],
)
def test_a_refill_waits_while_a_burst_goes_on(settings: SandboxSettings, docker_api: docker.APIClient, pause: float) -> None:
    """Creating containers competes with a burst's commands: between two of them nothing runs, yet the burst is not over.

    Short commands leave short gaps; the steps of turns leave longer ones, since between
    two sandbox steps of a turn the model answers and the server picks the next run up
    (`langgraph dev` polls its queue about once a second, with a model that answers at once).
    No pooled container is even created during either. The commands go the server's way,
    `aexecute` (through the deployment's command threads).
    """
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=1))
    try:
        deployment.start()
        _wait_for(lambda: len(_untaken(docker_api, deployment.settings)) == 1, "the pool to fill")
        box = DockerSandbox("burst", deployment, user_id="carol")
        assert asyncio.run(box.aexecute("true")).exit_code == 0  # takes the pooled container
        pooled = {c["Id"] for c in docker_api.containers(all=True, filters=pool_filter(deployment.settings))}
        for _ in range(math.ceil(2 * REFILL_DELAY / pause) + 1):  # the burst outlasts the refill's delay
            time.sleep(pause)
            assert asyncio.run(box.aexecute("true")).exit_code == 0
            made = {c["Id"] for c in docker_api.containers(all=True, filters=pool_filter(deployment.settings))} - pooled
            assert not made, "the pool began to refill during the burst"
        _wait_for(lambda: len(_untaken(docker_api, deployment.settings)) == 1, "the refill once the burst ended")
    finally:
        deployment.close(remove_sessions=True)


def test_pool_refills_and_drains_on_close(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=1))
    try:
        deployment.start()
        _wait_for(lambda: len(_untaken(docker_api, deployment.settings)) == 1, "the pool to fill")
        first = _untaken(docker_api, deployment.settings)[0]["Id"]
        box = DockerSandbox("refilled", deployment, user_id="carol")
        assert box.execute("true").exit_code == 0
        _wait_for(lambda: [c["Id"] for c in _untaken(docker_api, deployment.settings)] not in ([], [first]), "a refill")
        deployment.pool.close()
        assert _untaken(docker_api, deployment.settings) == []  # drained
        assert docker_api.inspect_container(first)["State"]["Running"]  # the taken one is the thread's: kept
    finally:
        deployment.close(remove_sessions=True)
    assert docker_api.containers(all=True, filters=pool_filter(deployment.settings)) == []
    assert mounts_under(pool_dir(deployment.settings)) == [str(pool_dir(deployment.settings) / "mounts")]


def test_caps_count_a_taken_container_for_its_user_and_an_untaken_one_for_nobody(
    settings: SandboxSettings, docker_api: docker.APIClient
) -> None:
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=2, max_containers_per_user=1))
    try:
        deployment.start()
        _wait_for(lambda: len(_untaken(docker_api, deployment.settings)) == 2, "the pool to fill")
        assert deployment.running_session_threads() == []  # untaken containers are nobody's
        first = DockerSandbox("capped-1", deployment, user_id="dave")
        assert first.execute("true").exit_code == 0
        first_id = _container_of(first, docker_api)["Id"]
        assert deployment.running_session_threads() == ["capped-1"]
        second = DockerSandbox("capped-2", deployment, user_id="dave")
        assert second.execute("true").exit_code == 0  # dave's cap of one: his idle first container is stopped
        assert not docker_api.inspect_container(first_id)["State"]["Running"]
        assert deployment.running_session_threads() == ["capped-2"]
        assert first.execute("echo again").output.strip() == "again"  # and it starts again with its folders
    finally:
        deployment.close(remove_sessions=True)


def test_removing_a_thread_removes_its_pooled_container_and_unbinds_its_folders(
    pooled: SandboxDeployment, docker_api: docker.APIClient
) -> None:
    box = DockerSandbox("pool-removed", pooled, user_id="erin")
    assert box.execute("echo x > /workspace/x").exit_code == 0
    container = _container_of(box, docker_api)
    slot = container["Labels"][LABEL_POOL]
    removed, workspace = remove_thread(pooled.api, pooled.settings, "pool-removed")
    assert (removed, workspace) == (1, True)
    assert read_claim(pooled.settings, slot) is None
    assert not (pool_dir(pooled.settings) / "mounts" / slot).exists()
    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_container(container["Id"])


def test_a_dead_processes_untaken_containers_are_swept(
    settings: SandboxSettings, docker_api: docker.APIClient, pooled: SandboxDeployment
) -> None:
    process = ServerProcess(pooled.settings)
    try:
        process.call("start").result(PATIENCE)
        _wait_for(lambda: len(_untaken(docker_api, pooled.settings)) == 4, "the other process's pool to fill")
        theirs = [c for c in _untaken(docker_api, pooled.settings) if c["Labels"][LABEL_OWNER] != pooled.lease.id]
        assert len(theirs) == 2
        process.kill()
        pooled.sweep_leftovers()
        assert {c["Id"] for c in _untaken(docker_api, pooled.settings)}.isdisjoint({c["Id"] for c in theirs})
        assert len(_untaken(docker_api, pooled.settings)) == 2  # ours stay
    finally:
        process.close()


def test_a_pooled_container_removed_after_it_was_listed_is_never_handed_out(
    pooled: SandboxDeployment, docker_api: docker.APIClient
) -> None:
    """A drain or a sweep claims a pooled container, removes it, then drops its claim.

    A first command that decides from a listing taken before that (or passed on to it under
    the start lock) can then claim the slot again: it must skip the container, not be handed
    one that is gone.
    """
    listed = _untaken(docker_api, pooled.settings)
    gone, kept = listed
    slot = gone["Labels"][LABEL_POOL]
    assert claim(pooled.settings, slot, *DRAINING)
    docker_api.remove_container(gone["Id"], force=True)
    release(pooled.settings, slot)

    ref = ThreadRef(user_id="local", thread_id="after-a-drain", image=pooled.settings.image)
    first = pooled.pool.claim_one(ref, listed)
    assert first is not None
    assert first.container_id == gone["Id"]  # claimable again: its claim was dropped
    assert not pooled.pool.hand_over(first, ref)
    assert read_claim(pooled.settings, slot) is None
    second = pooled.pool.claim_one(ref, listed, skip={first.container_id})
    assert second is not None
    assert second.container_id == kept["Id"]
    assert pooled.pool.hand_over(second, ref)


def test_a_first_command_whose_claimed_container_is_gone_gets_another(pooled: SandboxDeployment, docker_api: docker.APIClient) -> None:
    """The listing one first command passes on may name a pooled container removed since (an operator's `docker rm`).

    The next first command claims it, finds it gone when it binds the folders, and starts
    over with a new listing: its command runs, in a container that runs.
    """
    assert DockerSandbox("before-the-rm", pooled, user_id="alice").execute("true").exit_code == 0
    for item in _untaken(docker_api, pooled.settings):
        docker_api.remove_container(item["Id"], force=True)
    result = DockerSandbox("after-the-rm", pooled, user_id="bob").execute("echo ran")
    assert result.exit_code == 0, result.output
    assert "ran" in result.output


def test_a_claimed_container_left_without_its_folders_gets_them_before_it_is_used(
    pooled: SandboxDeployment, docker_api: docker.APIClient
) -> None:
    """A take that died between its claim and its binds (Docker down, the process killed) leaves the claim.

    The thread's next first command must bind the folders, not run in the empty slot.
    """
    alice = DockerSandbox("left-claimed", pooled, user_id="alice")
    assert alice.write("/workspace/seen.txt", "the thread's own\n").error is None
    [item, *_] = _untaken(docker_api, pooled.settings)
    assert claim(pooled.settings, item["Labels"][LABEL_POOL], "left-claimed", "alice")
    result = alice.execute("cat /workspace/seen.txt")
    assert result.exit_code == 0, result.output
    assert "the thread's own" in result.output
    assert _container_of(alice, docker_api)["Id"] == item["Id"]


def test_taking_a_pooled_container_whose_runner_answers_asks_docker_nothing(
    pooled: SandboxDeployment, docker_api: docker.APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claimed container is checked to still run before it is handed out; its runner answering is proof enough.

    A Docker round trip there makes the thread's first command, and any other first command
    of the same thread, wait longer.
    """
    api = pooled.start()
    listed = _untaken(docker_api, pooled.settings)
    _wait_for(lambda: all(pooled.runners.ping(api, c["Id"]) for c in listed), "the pooled containers' runners")
    asked = record_calls(monkeypatch, api, "inspect_container")
    ref = ThreadRef(user_id="local", thread_id="runner-answers", image=pooled.settings.image)
    claimed = pooled.pool.claim_one(ref, listed)
    assert claimed is not None
    assert pooled.pool.hand_over(claimed, ref)
    assert asked == []


def _claim_all(settings: SandboxSettings, slots: list[str], who: str, start_at: float) -> list[str]:
    time.sleep(max(0.0, start_at - time.time()))
    return [slot for slot in slots if claim(settings, slot, f"thread-{who}", who)]


def test_processes_claiming_at_once_never_share_a_slot(settings: SandboxSettings) -> None:
    slots = [f"slot{i:03d}" for i in range(200)]
    start_at = time.time() + 3.0
    with multiprocessing.get_context("spawn").Pool(4) as workers:
        results = workers.starmap(_claim_all, [(settings, slots, f"p{n}", start_at) for n in range(4)])
    won = [slot for result in results for slot in result]
    assert sorted(won) == slots  # every slot claimed exactly once
    for who, result in zip((f"p{n}" for n in range(4)), results, strict=True):
        for slot in result:
            assert read_claim(settings, slot) == Claim(f"thread-{who}", who)


def test_two_processes_first_commands_take_different_containers(pooled: SandboxDeployment, docker_api: docker.APIClient) -> None:
    other = ServerProcess(pooled.settings)
    try:
        other.call("start").result(PATIENCE)
        _wait_for(lambda: len(_untaken(docker_api, pooled.settings)) == 4, "the other process's pool to fill")
        futures = [other.call("execute", f"race-{n}", "cat /proc/1/cgroup >/dev/null; hostname", f"user-{n}") for n in range(3)]
        mine = [DockerSandbox(f"race-{n}", pooled, user_id=f"user-{n}").execute("hostname") for n in range(3, 6)]
        theirs = [future.result(PATIENCE) for future in futures]
        hostnames = [output.strip() for _, output in theirs] + [result.output.strip() for result in mine]
        assert len(set(hostnames)) == 6, hostnames
    finally:
        other.close()


def test_a_take_over_the_total_cap_stops_another_container_when_the_pool_refills(
    settings: SandboxSettings, docker_api: docker.APIClient
) -> None:
    """A pooled take does not add a running container, it hands one over: the stop it owes waits for the refill.

    Stopping a container costs the machine about half a turn's CPU of an unsandboxed agent;
    during a burst of new threads it competes with their commands, as creating the
    replacement would. So a take over `SANDBOX_MAX_CONTAINERS` leaves the least recently
    used idle container running until the burst ends, and the refill stops it before it
    starts the replacement. A first command that finds the pool empty creates a container,
    which does add one: it stops every idle container over the cap at once, so sessions
    over the cap never outnumber the pool.
    """
    deployment = SandboxDeployment(settings.with_overrides(mode="session", pool_size=1, max_containers=1))
    try:
        wait_for_full_pool(deployment)
        first = DockerSandbox("owed-a", deployment, user_id="frank")
        assert first.execute("true").exit_code == 0
        wait_for_full_pool(deployment)
        second = DockerSandbox("owed-b", deployment, user_id="frank")
        for _ in range(math.ceil(1.5 * REFILL_DELAY / 0.3)):  # a burst (the server's way): the refill waits, and so does the stop
            assert asyncio.run(second.aexecute("true")).exit_code == 0
            assert deployment.running_session_threads() == ["owed-a", "owed-b"]
            time.sleep(0.3)
        wait_for_full_pool(deployment)
        assert deployment.running_session_threads() == ["owed-b"]  # stopped before the replacement was made

        assert DockerSandbox("owed-c", deployment, user_id="frank").execute("true").exit_code == 0  # takes it: owes a stop
        assert DockerSandbox("owed-d", deployment, user_id="frank").execute("true").exit_code == 0  # the pool is empty: creates
        _wait_for(lambda: deployment.running_session_threads() == ["owed-d"], "the containers over the cap to stop", timeout=30)
    finally:
        deployment.close(remove_sessions=True)
