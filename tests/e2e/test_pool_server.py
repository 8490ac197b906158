"""A server with SANDBOX_POOL_SIZE: a new thread's first command runs in a pooled container, which goes with the thread.

The server is a real `langgraph dev` in session mode; the test drives it with the
SDK, and checks from the outside (Docker labels, the pool's claim files, the host's
mount table) which container served the thread, and that stopping the server
removes the containers nobody took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.containers.pool_claims import LABEL_POOL, Claim, pool_dir, read_claim
from sandbox.containers.warm_pool import pool_filter
from tests.support.agent_client import approve, resume, sdk_client, stream_run, user_input
from tests.support.e2e_servers import server_env
from tests.support.langgraph_server import E2EPaths, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.workspaces import mounts_under, remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

PROMPT = "pool: show where the first command runs"
PATIENCE = 120.0


@pytest.fixture
def pool_folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The server's own workspaces and memories folders (its own container scope), removed after the test."""
    tmp_path.chmod(0o755)
    workspaces, memories = tmp_path / "workspaces", tmp_path / "memories"
    for folder in (workspaces, memories):
        folder.mkdir(mode=0o755)
    yield workspaces.resolve(), memories.resolve()
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        for container in engine.containers(all=True, filters=pool_filter(SandboxSettings(workspaces_dir=workspaces.resolve()))):
            engine.remove_container(container["Id"], force=True)
    finally:
        engine.close()
    remove_workspaces_under(workspaces, memories)


@pytest.fixture
def docker_engine() -> Iterator[docker.APIClient]:
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    yield engine
    engine.close()


def _untaken(engine: docker.APIClient, settings: SandboxSettings) -> list[str]:
    return [c["Id"] for c in engine.containers(filters=pool_filter(settings)) if read_claim(settings, c["Labels"][LABEL_POOL]) is None]


async def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await asyncio.to_thread(condition):  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_new_threads_first_command_runs_in_a_pooled_container_that_goes_with_the_thread(
    scripted_llm: ScriptedLLM,
    e2e_paths: E2EPaths,
    sandbox_image: str,
    tmp_path: Path,
    pool_folders: tuple[Path, Path],
    docker_engine: docker.APIClient,
) -> None:
    workspaces, memories = pool_folders
    settings = SandboxSettings(workspaces_dir=workspaces)
    command = "echo pooled > /workspace/mark; hostname"
    scripted_llm.add_scenario(PROMPT, call("execute", command=command), say(echo_last_tool_output("ran: ")))
    env = server_env(
        scripted_llm,
        e2e_paths,
        sandbox_image,
        SANDBOX_WORKSPACES_DIR=str(workspaces),
        SANDBOX_MEMORIES_DIR=str(memories),
        SANDBOX_MODE="session",
        SANDBOX_POOL_SIZE="2",
    )
    with run_langgraph_dev(workdir=tmp_path / "server", env=env) as server:
        async with sdk_client(server.url) as client:
            thread_id = (await client.threads.create())["thread_id"]
            # The pool fills once the server first touches Docker (its reconciler at startup).
            await _wait_for(lambda: len(_untaken(docker_engine, settings)) == 2, "the pool to fill")
            pooled = set(_untaken(docker_engine, settings))

            paused = await stream_run(client, thread_id, input=user_input(PROMPT))
            assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
            done = await stream_run(client, thread_id, command=resume(approve()))
            assert not done.errors, done.describe()

            [taken] = [
                c
                for c in docker_engine.containers(filters=pool_filter(settings))
                if read_claim(settings, c["Labels"][LABEL_POOL]) == Claim(thread_id, SINGLE_USER_ID)
            ]
            assert taken["Id"] in pooled
            assert taken["Id"][:12] in done.final_ai_text  # the command ran there (its hostname)
            mark = await asyncio.to_thread((workspaces / thread_id / "mark").read_text, encoding="utf-8")
            assert mark == "pooled\n"

            await client.threads.delete(thread_id)
            slot = taken["Labels"][LABEL_POOL]
            gone = {"id": [taken["Id"]]}
            await _wait_for(lambda: not docker_engine.containers(all=True, filters=gone), "the thread's container to go")
            await _wait_for(lambda: not (pool_dir(settings) / "mounts" / slot).exists(), "its folders to be unbound")
            assert read_claim(settings, slot) is None
            await _wait_for(lambda: len(_untaken(docker_engine, settings)) == 2, "the pool to refill")
    # A graceful stop removes the containers nobody took.
    assert docker_engine.containers(all=True, filters=pool_filter(settings)) == []
    assert mounts_under(pool_dir(settings)) in ([], [str(pool_dir(settings) / "mounts")])
