"""Four Aegra processes share one Docker engine: no process's sweep removes a command another is running.

With 4 worker processes, one process's startup sweep used to remove the ephemeral
containers other processes were running commands in (3 of 8 concurrent threads lost
their command), because the sandbox assumed one server process per workspaces folder.
Here a fresh Aegra (`deploy/aegra/serve.sh`, 4 processes, PostgreSQL and Redis) runs
8 threads' approved `execute` commands at once, each a few seconds long. Every process sweeps at its first command and then every
`SANDBOX_LEASE_TTL` (4 s here), so sweeps overlap other processes' running
commands; every command must still finish and its output reach its thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import docker
import pytest

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_OWNER, label_filter, labels_for
from tests.support.aegra_server import run_aegra
from tests.support.agent_client import (
    RunOutcome,
    approve,
    resume,
    sdk_client,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, message_text, say
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

WORKERS = 4
"""Aegra server processes: the count at which one process's sweep once removed the others' containers."""
THREADS = 8
"""Concurrent threads: enough that every process runs some while the others sweep."""
COMMAND_SECONDS = 4
"""How long each command runs: long enough that other processes' sweeps happen meanwhile."""
LEASE_TTL = 4
"""SANDBOX_LEASE_TTL of this server (the smallest allowed): each process sweeps this often."""
STAGGER = 0.4
"""Seconds between the approvals, so processes' first commands (and sweeps) start while others run."""


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EPaths]:
    folders = make_e2e_paths(tmp_path_factory.mktemp("e2e-aegra-workers"))
    yield folders
    remove_workspaces_under(folders.workspaces, folders.memories)


@pytest.fixture(scope="module")
def four_workers(scripted_llm: ScriptedLLM, paths: E2EPaths, sandbox_image: str) -> Iterator[LangGraphServer]:
    """A fresh Aegra with 4 processes (PostgreSQL, Redis), ephemeral sandboxes, frequent sweeps."""
    env = server_env(scripted_llm, paths, sandbox_image, SANDBOX_MODE="ephemeral", SANDBOX_LEASE_TTL=str(LEASE_TTL))
    with run_aegra(workdir=paths.server_home, env=env, workers=WORKERS) as server:
        yield server


async def _watch_owners(docker_api: docker.APIClient, paths: E2EPaths, owners: set[str]) -> None:
    """Collect the owner (process lease) labels of this server's ephemeral containers until cancelled."""
    scope = label_filter(labels_for(SandboxSettings(workspaces_dir=paths.workspaces.resolve()), mode="ephemeral"))
    while True:
        for container in await asyncio.to_thread(docker_api.containers, all=True, filters=scope):
            owners.add((container.get("Labels") or {}).get(LABEL_OWNER, ""))
        await asyncio.sleep(0.3)


async def test_concurrent_commands_on_four_processes_all_finish(
    four_workers: LangGraphServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient, paths: E2EPaths
) -> None:
    token = uuid.uuid4().hex[:8]
    async with sdk_client(four_workers.url) as client:

        async def paused(n: int) -> str:
            trigger = f"e2e-aegra-workers-{token}-{n}"
            command = f"sleep {COMMAND_SECONDS}; echo done-{n}"
            scripted_llm.add_scenario(trigger, call("execute", command=command), say(echo_last_tool_output()))
            thread_id = str((await client.threads.create())["thread_id"])
            outcome = await stream_run(client, thread_id, input=user_input(f"run it ({trigger})"))
            assert [a["name"] for a in outcome.action_requests] == ["execute"], outcome.describe()
            return thread_id

        async def approved(n: int, thread_id: str) -> RunOutcome:
            await asyncio.sleep(n * STAGGER)
            return await stream_run(client, thread_id, command=resume(approve()))

        thread_ids = await asyncio.gather(*(paused(n) for n in range(THREADS)))
        owners: set[str] = set()
        watcher = asyncio.create_task(_watch_owners(docker_api, paths, owners))
        try:
            outcomes = await asyncio.gather(*(approved(n, t) for n, t in enumerate(thread_ids)))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

        lost = []
        for n, (thread_id, outcome) in enumerate(zip(thread_ids, outcomes, strict=True)):
            outputs = [message_text(m) for m in tool_messages(await thread_state(client, thread_id), "execute")]
            if outcome.errors or len(outputs) != 1 or f"done-{n}" not in outputs[0]:
                lost.append(f"thread {n}: errors={outcome.errors} outputs={outputs}")
    assert not lost, f"{len(lost)} of {THREADS} threads lost their command:\n" + "\n".join(lost)
    # The commands really ran in several processes (each labels its containers with its own lease).
    assert len(owners - {""}) >= 2, f"all commands ran in one process: {owners}"
