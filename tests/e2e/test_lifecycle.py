"""A thread's sandboxes live as long as the thread: delete, reconciler, retention, graceful stop, audit log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from sandbox.disks.workspace import prepare_workspace
from sandbox.runs.audit import arguments_digest
from tests.support.agent_client import approve, resume, sdk_client, stream_run, user_input
from tests.support.auth_keys import AuthKeys
from tests.support.e2e_servers import AuthServer, make_e2e_paths, server_env
from tests.support.engines import LANGGRAPH_DEV
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, say
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRACE = 3
"""SANDBOX_ORPHAN_GRACE of the session-mode lifecycle server (seconds)."""
RETENTION = 4
"""SANDBOX_RETENTION of the session-mode lifecycle server (seconds)."""
RECONCILE_EVERY = 1
"""SANDBOX_RECONCILE_INTERVAL of the session-mode lifecycle server (seconds)."""
PATIENCE = 90.0
"""Seconds a test waits for the reconciler on a loaded machine."""


def _scope(paths: E2EPaths, **labels: Any) -> dict[str, str]:
    return labels_for(SandboxSettings(workspaces_dir=paths.workspaces.resolve()), **labels)


def _containers(api: docker.APIClient, paths: E2EPaths, thread_id: str | None = None) -> list[dict[str, Any]]:
    return api.containers(all=True, filters=label_filter(_scope(paths, thread_id=thread_id)))


def _leftover_container(api: docker.APIClient, image: str, paths: E2EPaths, thread_id: str, mode: str = "session") -> str:
    """A real container labelled as `thread_id`'s sandbox (created, not started), as a crash would leave it."""
    host_config = api.create_host_config(network_mode="none")
    labels = _scope(paths, thread_id=thread_id, mode=mode)
    return api.create_container(image=image, command=["sleep", "infinity"], labels=labels, host_config=host_config)["Id"]


def _exists(api: docker.APIClient, container_id: str) -> bool:
    try:
        api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


async def _eventually(check: Any, what: str, patience: float = PATIENCE) -> None:
    deadline = time.monotonic() + patience
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {patience:.0f}s waiting for: {what}")
        await asyncio.sleep(0.5)


async def _thread_with_files(client: LangGraphClient, scripted_llm: ScriptedLLM, name: str) -> tuple[str, str]:
    """A thread whose approved `execute` wrote `/workspace/<name>`; returns (thread id, the command)."""
    trigger = f"e2e-life-{uuid.uuid4().hex[:8]}"
    command = f"echo kept > /workspace/{name}"
    scripted_llm.add_scenario(trigger, call("execute", command=command), say("done"))
    thread_id = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, thread_id, input=user_input(f"make a file ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    return thread_id, command


@dataclass
class SessionLifecycleServer:
    server: LangGraphServer
    keys: AuthKeys
    paths: E2EPaths

    def client(self, user_id: str) -> Any:
        return sdk_client(self.server.url, token=self.keys.token(user_id))


@pytest.fixture(scope="module")
def session_lifecycle(
    scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[SessionLifecycleServer]:
    """Session mode, auth on, and a fast reconciler: short grace, short retention."""
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e-lifecycle"))
    keys = AuthKeys(jwks_file=paths.server_home / "jwks.json")
    env = server_env(
        scripted_llm,
        paths,
        sandbox_image,
        **keys.env(),
        SANDBOX_MODE="session",
        SANDBOX_ORPHAN_GRACE=str(GRACE),
        SANDBOX_RETENTION=str(RETENTION),
        SANDBOX_RECONCILE_INTERVAL=str(RECONCILE_EVERY),
    )
    api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        with run_langgraph_dev(workdir=paths.server_home, env=env) as server:
            yield SessionLifecycleServer(server=server, keys=keys, paths=paths)
    finally:
        for container in _containers(api, paths):
            api.remove_container(container["Id"], force=True)
        api.close()


async def test_deleting_a_thread_removes_its_workspace_and_containers_ephemeral(
    engine_server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient, sandbox_image: str
) -> None:
    paths = engine_server.paths
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id, _ = await _thread_with_files(alice, scripted_llm, "ephemeral.txt")
        workspace = paths.workspace(thread_id)
        assert (workspace / "ephemeral.txt").read_text() == "kept\n"
        # An in-flight command's container, as if the thread were deleted mid-command.
        in_flight = _leftover_container(docker_api, sandbox_image, paths, thread_id, mode="ephemeral")

        # Refused: another user's delete removes nothing.
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await bob.threads.delete(thread_id)
        assert refused.value.response.status_code == 404
        assert (workspace / "ephemeral.txt").exists()
        assert _exists(docker_api, in_flight)

        await alice.threads.delete(thread_id)
        assert not workspace.exists(), "the workspace outlived its thread"
        assert not _exists(docker_api, in_flight)
        assert _containers(docker_api, paths, thread_id) == []


async def test_deleting_a_thread_removes_its_workspace_and_containers_session(
    session_lifecycle: SessionLifecycleServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    paths = session_lifecycle.paths
    async with session_lifecycle.client("user-a") as alice, session_lifecycle.client("user-b") as bob:
        thread_id, _ = await _thread_with_files(alice, scripted_llm, "session.txt")
        workspace = paths.workspace(thread_id)
        [container] = _containers(docker_api, paths, thread_id)
        assert container["State"] == "running"

        with pytest.raises(httpx.HTTPStatusError) as refused:
            await bob.threads.delete(thread_id)
        assert refused.value.response.status_code == 404
        assert (workspace / "session.txt").exists()
        assert _exists(docker_api, container["Id"])

        offset = session_lifecycle.server.log_size()
        await alice.threads.delete(thread_id)
        assert not workspace.exists()
        assert _containers(docker_api, paths, thread_id) == []
    # The approved command's journal entry (agent.command_journal) is removed from langgraph dev's own
    # store, which no client can read: the server says how many entries it removed.
    removed = f"Thread {thread_id} deleted: removed 1 command journal entry"
    await _eventually(lambda: removed in session_lifecycle.server.log_since(offset), removed)


async def test_reconciler_removes_orphans_and_never_a_live_thread(
    session_lifecycle: SessionLifecycleServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient, sandbox_image: str
) -> None:
    paths = session_lifecycle.paths
    async with session_lifecycle.client("user-a") as alice:
        live_thread, _ = await _thread_with_files(alice, scripted_llm, "live.txt")
    [live_container] = _containers(docker_api, paths, live_thread)

    # What a crash leaves: a workspace and a container of a thread the server does not know.
    orphan = str(uuid.uuid4())
    (paths.workspace(orphan) / "sub").mkdir(parents=True)
    (paths.workspace(orphan) / "sub" / "left.txt").write_text("left behind\n")
    orphan_container = _leftover_container(docker_api, sandbox_image, paths, orphan)
    # A thread may have only an `/artifacts` folder (deepagents evicted a result before any command).
    artifacts_only = paths.workspaces.with_name(paths.workspaces.name + ".artifacts") / str(uuid.uuid4())
    (artifacts_only / "large_tool_results").mkdir(parents=True)
    (artifacts_only / "large_tool_results" / "call_1").write_text("evicted\n")
    # A folder that is not a thread id (a script's own workspace) is not the reconciler's to judge.
    foreign = paths.workspaces / "my-script-workspace"
    foreign.mkdir()

    await _eventually(lambda: not paths.workspace(orphan).exists() and not _exists(docker_api, orphan_container), "orphan removed")
    await _eventually(lambda: not artifacts_only.exists(), "orphaned artifacts removed")
    # Well past the grace period, the live thread's workspace and container are untouched.
    await asyncio.sleep(GRACE + 2 * RECONCILE_EVERY)
    assert (paths.workspace(live_thread) / "live.txt").read_text() == "kept\n"
    assert _exists(docker_api, live_container["Id"])
    assert foreign.is_dir()


async def test_stopped_session_containers_are_removed_after_retention_and_the_thread_keeps_working(
    session_lifecycle: SessionLifecycleServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    paths = session_lifecycle.paths
    async with session_lifecycle.client("user-a") as alice:
        thread_id, _ = await _thread_with_files(alice, scripted_llm, "retained.txt")
        [container] = _containers(docker_api, paths, thread_id)
        docker_api.stop(container["Id"], timeout=1)
        stopped_at = time.monotonic()
        await _eventually(lambda: not _exists(docker_api, container["Id"]), "stopped container removed")
        assert time.monotonic() - stopped_at >= RETENTION - 1, "removed before SANDBOX_RETENTION"
        assert (paths.workspace(thread_id) / "retained.txt").read_text() == "kept\n", "retention must keep the workspace"

        # The thread's next command starts a fresh container and sees its files.
        trigger = f"e2e-life-again-{uuid.uuid4().hex[:8]}"
        scripted_llm.add_scenario(trigger, call("execute", command="cat /workspace/retained.txt"), say("read"))
        await stream_run(alice, thread_id, input=user_input(f"read it ({trigger})"))
        done = await stream_run(alice, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        assert any("kept" in str(m.get("content")) for m in done.messages_of("tool")), done.describe()


async def test_a_graceful_stop_stops_the_servers_session_containers(
    scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, docker_api: docker.APIClient
) -> None:
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e-graceful"))
    env = server_env(scripted_llm, paths, sandbox_image, SANDBOX_MODE="session")
    try:
        with run_langgraph_dev(workdir=paths.server_home, env=env) as server:
            async with sdk_client(server.url) as client:
                thread_id, _ = await _thread_with_files(client, scripted_llm, "graceful.txt")
            [running] = _containers(docker_api, paths, thread_id)
            assert running["State"] == "running"
        # The `with` block sent SIGTERM and waited for the server to exit.
        [after] = _containers(docker_api, paths, thread_id)
        assert after["Id"] == running["Id"]
        assert after["State"] != "running", after["State"]
        # The workspace is kept: in its disk image (unmounted at the stop when quotas are on), mounted again on use.
        settings = SandboxSettings(workspaces_dir=paths.workspaces, shared_dir=paths.shared, memories_dir=paths.memories)
        assert (prepare_workspace(settings, thread_id, create=False, user_id=SINGLE_USER_ID) / "graceful.txt").exists()
    finally:
        for container in _containers(docker_api, paths):
            docker_api.remove_container(container["Id"], force=True)
        remove_workspaces_under(paths.workspaces, paths.memories)


def _audit_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


async def test_audit_log_records_commands_and_approval_decisions(auth_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    audit = auth_server.paths.server_home / "audit.jsonl"
    async with auth_server.client("user-a") as alice, auth_server.client("user-b") as bob:
        trigger = f"e2e-audit-{uuid.uuid4().hex[:8]}"
        command = f"echo audited-{trigger} && exit 3"
        scripted_llm.add_scenario(trigger, call("execute", command=command), call("execute", command="echo rejected"), say("ok"))
        thread_id = (await alice.threads.create())["thread_id"]
        await stream_run(alice, thread_id, input=user_input(f"audit me ({trigger})"))
        # Another user's resume is refused and never logged as a decision.
        with pytest.raises(httpx.HTTPStatusError):
            await bob.runs.create(thread_id, "agent", command=resume(approve()))
        await stream_run(alice, thread_id, command=resume(approve()))
        await stream_run(alice, thread_id, command=resume({"type": "reject", "message": "no"}))

    records = [r for r in _audit_records(audit) if r.get("thread") == thread_id]
    decisions = [r for r in records if r["event"] == "approval"]
    commands = [r for r in records if r["event"] == "command"]
    assert [(d["user"], d["tool"], d["decision"]) for d in decisions] == [
        ("user-a", "execute", "approve"),
        ("user-a", "execute", "reject"),
    ], records
    assert decisions[0]["arguments_digest"] == arguments_digest({"command": command})
    assert decisions[1]["arguments_digest"] == arguments_digest({"command": "echo rejected"})
    assert [(c["user"], c["command"], c["exit_code"]) for c in commands] == [("user-a", command, 3)], records
    for record in records:
        assert record["time"].endswith("Z")
    assert oct(audit.stat().st_mode & 0o777) == "0o600"


async def _prune(http: httpx.AsyncClient, engine: str, thread_id: str) -> None:
    """Prune `thread_id` the way each server offers: by id (`langgraph dev`), or as an expired TTL thread (Aegra)."""
    body = {"thread_ids": [thread_id.upper()], "strategy": "delete"} if engine == LANGGRAPH_DEV else {}
    answer = await http.post("/threads/prune", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json().get("pruned_count", answer.json().get("deleted")) == 1, answer.text


async def test_a_pruned_threads_workspace_is_gone_before_the_prune_answers_and_the_next_owner_starts_empty(
    engine_server: AuthServer, docker_api: docker.APIClient, sandbox_image: str
) -> None:
    paths = engine_server.paths
    alice_headers = {"Authorization": f"Bearer {engine_server.keys.token('user-a')}"}
    bob_headers = {"Authorization": f"Bearer {engine_server.keys.token('user-b')}"}
    async with httpx.AsyncClient(base_url=engine_server.url, headers=alice_headers, timeout=60) as alice:
        ttl = {"ttl": {"ttl": 0.01, "strategy": "delete"}} if engine_server.engine != LANGGRAPH_DEV else {}
        thread_id = str((await alice.post("/threads", json=ttl)).json()["thread_id"])
        put = await alice.put(f"/files/{thread_id}/content", params={"path": "/workspace/private.txt"}, content=b"alice's")
        assert put.status_code == 201, put.text
        in_flight = _leftover_container(docker_api, sandbox_image, paths, thread_id, mode="ephemeral")
        await asyncio.sleep(1.5)  # past Aegra's TTL of 0.6 s
        await _prune(alice, engine_server.engine, thread_id)
        assert not paths.workspace(thread_id).exists(), "the workspace outlived its pruned thread"
        assert not _exists(docker_api, in_flight), "a container outlived its pruned thread"

    async with httpx.AsyncClient(base_url=engine_server.url, headers=bob_headers, timeout=60) as bob:
        again = await bob.post("/threads", json={"thread_id": thread_id})
        assert again.status_code == 200, again.text
        listing = await bob.get(f"/files/{thread_id}/list", params={"path": "/workspace"})
        assert "private.txt" not in listing.text, "the next owner of the id found the old workspace"
        await bob.delete(f"/threads/{thread_id}")


async def test_a_pruned_threads_session_container_is_gone_before_the_prune_answers(
    session_lifecycle: SessionLifecycleServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    paths = session_lifecycle.paths
    async with session_lifecycle.client("user-a") as alice:
        thread_id, _ = await _thread_with_files(alice, scripted_llm, "pruned.txt")
    [container] = _containers(docker_api, paths, thread_id)
    headers = {"Authorization": f"Bearer {session_lifecycle.keys.token('user-a')}"}
    async with httpx.AsyncClient(base_url=session_lifecycle.server.url, headers=headers, timeout=60) as http:
        await _prune(http, LANGGRAPH_DEV, thread_id)
    assert not _exists(docker_api, container["Id"]), "the old owner's container (and its /memories mount) outlived the prune"
    assert not paths.workspace(thread_id).exists()


async def test_reconciler_removes_storage_under_other_spellings_and_disk_images_without_a_thread(
    session_lifecycle: SessionLifecycleServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient, sandbox_image: str
) -> None:
    paths = session_lifecycle.paths
    async with session_lifecycle.client("user-a") as alice:
        live_thread, _ = await _thread_with_files(alice, scripted_llm, "live-spelled.txt")
    # What an alias got before aliases were refused: a workspace, a container and a disk image of its own.
    alias = live_thread.upper()
    (paths.workspace(alias) / "quota-bypass.bin").parent.mkdir(parents=True)
    (paths.workspace(alias) / "quota-bypass.bin").write_bytes(b"x" * 1024)
    alias_container = _leftover_container(docker_api, sandbox_image, paths, alias)
    images = paths.workspaces.with_name(paths.workspaces.name + ".disks")
    images.mkdir(exist_ok=True)
    alias_image = images / f"{uuid.UUID(live_thread).hex}.img"
    alias_image.write_bytes(b"\0" * 4096)
    # A disk image whose thread is gone and whose folder is gone too (after a reboot, say).
    orphan_image = images / f"{uuid.uuid4()}.img"
    orphan_image.write_bytes(b"\0" * 4096)

    def all_gone() -> bool:
        leftovers = (paths.workspace(alias).exists(), _exists(docker_api, alias_container), alias_image.exists(), orphan_image.exists())
        return not any(leftovers)

    await _eventually(all_gone, "alias workspace, alias container, alias image and orphan image removed")
    assert (paths.workspace(live_thread) / "live-spelled.txt").read_text() == "kept\n", "the thread the alias spells was touched"
