"""One of two Aegra processes is killed (SIGKILL) during a command and during a pending approval: nothing is lost.

A fresh Aegra (`deploy/aegra/serve.sh`, 2 processes, PostgreSQL and Redis) with
short leases (`LEASE_DURATION_SECONDS` 6, heartbeats every 2 s, the reaper every
2 s), so a crashed run is re-queued within seconds instead of about 45 s.

1. During a run: an approved command appends a line to `/workspace/count` and
   sleeps. The process running the run (named in the server log) is killed once
   the line is there. Aegra re-queues the run on the other process, which does
   not start the command again (`agent.command_journal`): the count file keeps
   one line, the run ends `success`, the model reads that the command was
   interrupted and not started again, and the next run on the thread works and
   sees the workspace. Deleting the thread removes its command journal from the store.
2. During a pending approval: the process that ran the pausing run is killed.
   The approval is still pending, approving it runs the command once, and the run
   finishes.
3. As 1, for a command the `task` subagent runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph_sdk.client import LangGraphClient

from agent.command_journal import journal_namespace
from tests.support.aegra_server import connection_env, data_dir, deployment_processes, run_aegra
from tests.support.agent_client import (
    approve,
    pending_interrupt_values,
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

LEASES = {"LEASE_DURATION_SECONDS": "6", "HEARTBEAT_INTERVAL_SECONDS": "2", "REAPER_INTERVAL_SECONDS": "2"}
"""Aegra's lease settings for this server: a dead process's run is re-queued within about 10 s."""
WAIT = 180.0
"""Longest wait for anything here (a re-queue, a run's end, a worker's log line) on a busy machine."""
PICKED_UP = re.compile(r"-(?P<pid>[0-9]+)-worker-[0-9]+")
"""The pid in the worker name of Aegra's "Worker picked up run" log line (`<host>-<pid>-worker-<n>`)."""
TERMINAL = frozenset({"success", "error", "interrupted", "timeout"})


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EPaths]:
    folders = make_e2e_paths(tmp_path_factory.mktemp("e2e-aegra-ha"))
    yield folders
    remove_workspaces_under(folders.workspaces, folders.memories)


@pytest.fixture(scope="module")
def two_workers(scripted_llm: ScriptedLLM, paths: E2EPaths, sandbox_image: str) -> Iterator[LangGraphServer]:
    """A fresh Aegra with 2 processes (PostgreSQL, Redis) and short leases."""
    env = server_env(scripted_llm, paths, sandbox_image, **LEASES)
    with run_aegra(workdir=paths.server_home, env=env, workers=2) as server:
        yield server


async def until[T](check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """`check()`'s first value that is not None (asked every half second), or fail saying `what` never happened."""
    async with asyncio.timeout(WAIT):
        while True:
            if (value := await check()) is not None:
                return value
            await asyncio.sleep(0.5)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


def pickups(server: LangGraphServer, run_id: str) -> list[int]:
    """The pids of the Aegra processes that picked up `run_id`, in order, from the server log."""
    log = data_dir(server.workdir) / "server.log"
    pids = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "Worker picked up run" in line and run_id in line:
            try:
                worker = str(json.loads(line[line.index("{") :]).get("worker", ""))
            except ValueError:
                worker = line
            if match := PICKED_UP.search(worker):
                pids.append(int(match["pid"]))
    return pids


def kill_worker(server: LangGraphServer, pid: int) -> None:
    """SIGKILL one of this deployment's server processes (refusing any other process)."""
    port = int(urlsplit(server.url).port or 0)
    ours = deployment_processes(data_dir(server.workdir), port).get(f"Aegra server processes on port {port}", [])
    assert pid in ours, f"pid {pid} is not one of this deployment's server processes {ours}"
    os.kill(pid, signal.SIGKILL)


def lines(path: Path) -> list[str] | None:
    """The file's lines, or None while it does not exist."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else None


async def finished(client: LangGraphClient, thread_id: str, run_id: str) -> dict[str, object]:
    """The run once it has a terminal status."""

    async def terminal() -> dict[str, object] | None:
        run = dict(await client.runs.get(thread_id, run_id))
        return run if run.get("status") in TERMINAL else None

    return await until(terminal, f"run {run_id} never ended")


async def picked_up(server: LangGraphServer, run_id: str) -> int:
    async def pid() -> int | None:
        return next(iter(pickups(server, run_id)), None)

    return await until(pid, f"no process logged picking up run {run_id}")


async def paused_on(client: LangGraphClient, scripted_llm: ScriptedLLM, command: str) -> tuple[str, str]:
    """A new thread paused on the approval of `command`; returns (thread id, the pausing run's id)."""
    trigger = f"e2e-ha-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command=command), say(echo_last_tool_output()))
    thread_id = str((await client.threads.create())["thread_id"])
    outcome = await stream_run(client, thread_id, input=user_input(f"run it ({trigger})"))
    assert [a["name"] for a in outcome.action_requests] == ["execute"], outcome.describe()
    runs = await client.runs.list(thread_id)
    return thread_id, str(runs[0]["run_id"])


async def journal_of(server: LangGraphServer, thread_id: str) -> list[dict[str, object]]:
    """The thread's command journal, read from the deployment's PostgreSQL store (no client can read it)."""
    database_url = connection_env(server.workdir)["DATABASE_URL"]
    async with AsyncPostgresStore.from_conn_string(database_url) as store:
        return [dict(item.value) for item in await store.asearch(journal_namespace(thread_id), limit=100)]


async def next_run_sees(client: LangGraphClient, scripted_llm: ScriptedLLM, thread_id: str, path: str) -> str:
    """Run one more approved command on the thread (`cat path`) and return what it printed."""
    trigger = f"e2e-ha-next-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command=f"cat {path}"), say(echo_last_tool_output()))
    paused = await stream_run(client, thread_id, input=user_input(f"show it ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    return message_text(tool_messages(await thread_state(client, thread_id), "execute")[-1])


async def kill_while_it_runs(server: LangGraphServer, paths: E2EPaths, thread_id: str, first_line: str) -> tuple[str, int]:
    """Approve the thread's pending command in a new run, and once it wrote `first_line` to /workspace/count
    kill the process running it; (the run's id, the killed pid)."""
    async with sdk_client(server.url) as client:
        run = await client.runs.create(thread_id, "agent", command=resume(approve()))  # type: ignore[arg-type]
        run_id = str(run["run_id"])
    count = paths.workspace(thread_id) / "count"

    async def started() -> list[str] | None:
        return lines(count)

    assert await until(started, "the approved command never started") == [first_line]
    killed = await picked_up(server, run_id)
    kill_worker(server, killed)
    return run_id, killed


async def ended_on_the_other_process(client: LangGraphClient, server: LangGraphServer, thread_id: str, run_id: str, killed: int) -> None:
    """The re-queued run ended `success`, last picked up by a process other than the killed one."""
    ended = await finished(client, thread_id, run_id)
    assert ended["status"] == "success", ended
    assert pickups(server, run_id)[-1] != killed, "the run did not continue on another process"


async def test_killing_the_process_running_a_command_does_not_run_it_twice(
    two_workers: LangGraphServer, scripted_llm: ScriptedLLM, paths: E2EPaths
) -> None:
    async with sdk_client(two_workers.url) as client:
        thread_id, _ = await paused_on(client, scripted_llm, "echo x >> /workspace/count; sleep 20")
    run_id, killed = await kill_while_it_runs(two_workers, paths, thread_id, "x")
    count = paths.workspace(thread_id) / "count"

    async with sdk_client(two_workers.url) as client:  # a fresh connection: the old one may have gone to the dead process
        await ended_on_the_other_process(client, two_workers, thread_id, run_id, killed)
        [result] = [message_text(m) for m in tool_messages(await thread_state(client, thread_id), "execute")]
        assert "Interrupted" in result, result
        assert "not started again" in result, result
        assert lines(count) == ["x"], "the approved command ran a second time"
        assert (await next_run_sees(client, scripted_llm, thread_id, "/workspace/count")).splitlines()[0] == "x"
        assert lines(count) == ["x"]
        journal = sorted((entry["command"], entry["state"]) for entry in await journal_of(two_workers, thread_id))
        assert journal == [("cat /workspace/count", "finished"), ("echo x >> /workspace/count; sleep 20", "started")]
        await client.threads.delete(thread_id)  # the thread's clean-up takes its journal too
        assert await journal_of(two_workers, thread_id) == []


async def test_killing_a_process_during_a_pending_approval_loses_nothing(
    two_workers: LangGraphServer, scripted_llm: ScriptedLLM, paths: E2EPaths
) -> None:
    async with sdk_client(two_workers.url) as client:
        thread_id, paused_by = await paused_on(client, scripted_llm, "echo y >> /workspace/approved")
        kill_worker(two_workers, await picked_up(two_workers, paused_by))

    async with sdk_client(two_workers.url) as client:
        state = await thread_state(client, thread_id)
        [pending] = pending_interrupt_values(state)
        assert [a["name"] for a in pending["action_requests"]] == ["execute"], pending
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        runs = await client.runs.list(thread_id)
        assert (await finished(client, thread_id, str(runs[0]["run_id"])))["status"] == "success"
        [result] = [message_text(m) for m in tool_messages(await thread_state(client, thread_id), "execute")]
        assert "Interrupted" not in result, result
    assert lines(paths.workspace(thread_id) / "approved") == ["y"]


async def test_killing_the_process_running_a_subagents_command_does_not_run_it_twice(
    two_workers: LangGraphServer, scripted_llm: ScriptedLLM, paths: E2EPaths
) -> None:
    """The same promise for a command the `task` subagent runs: its approval resumes the subagent's own checkpoint."""
    tag = uuid.uuid4().hex[:8]
    sub = f"e2e-ha-sub-{tag}"
    scripted_llm.add_scenario(sub, call("execute", command="echo s >> /workspace/count; sleep 20"), say(echo_last_tool_output()))
    scripted_llm.add_scenario(
        f"e2e-ha-task-{tag}", call("task", description=f"count ({sub})", subagent_type="general-purpose"), say(echo_last_tool_output())
    )
    async with sdk_client(two_workers.url) as client:
        thread_id = str((await client.threads.create())["thread_id"])
        paused = await stream_run(client, thread_id, input=user_input(f"delegate (e2e-ha-task-{tag})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    run_id, killed = await kill_while_it_runs(two_workers, paths, thread_id, "s")
    count = paths.workspace(thread_id) / "count"

    async with sdk_client(two_workers.url) as client:
        await ended_on_the_other_process(client, two_workers, thread_id, run_id, killed)
        [result] = [message_text(m) for m in tool_messages(await thread_state(client, thread_id), "task")]
        assert "not started again" in result, result
        assert lines(count) == ["s"], "the subagent's approved command ran a second time"
