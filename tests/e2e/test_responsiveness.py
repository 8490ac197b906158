"""One user's long commands never freeze the API for another user.

User A runs more approved long commands at once than asyncio's default executor
has threads (cpu count + 4; the server, its routes and `asyncio.to_thread` all
share it). While they run, user B's thread search, a file listing of B's
workspace and the health check (`GET /ok`; Aegra's is `/health`) must still
answer promptly, and A's commands must all finish with their output. On both
engines of the contract suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from tests.support.agent_client import approve, resume, stream_run, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

LONG_COMMANDS = 8
"""More than the default executor's threads on a 2-core machine (6), within the default per-user cap (8)."""
MOST_THAT_STARTED_BEFORE = 6
"""As many as the default executor's threads: once they run, that executor has nothing left for requests."""
COMMAND_SECONDS = 20
ANSWER_WITHIN = 10.0
"""Generous: an idle server answers these in milliseconds; a frozen one only after a command ends."""


async def _timed(what: str, action: Awaitable[Any]) -> float:
    """Seconds `action` took; fails the test if it takes longer than `ANSWER_WITHIN`."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(ANSWER_WITHIN):
            await action
    except TimeoutError:
        pytest.fail(f"{what} did not answer within {ANSWER_WITHIN}s while another user's commands ran")
    return time.monotonic() - started


async def test_other_users_requests_answer_while_one_user_runs_many_long_commands(
    engine_server: AuthServer, scripted_llm: ScriptedLLM
) -> None:
    health = "/ok" if engine_server.engine == LANGGRAPH_DEV else "/health"
    token = uuid.uuid4().hex[:8]
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        threads = []
        for index in range(LONG_COMMANDS):
            trigger = f"e2e-long-{token}-{index}"
            scripted_llm.add_scenario(
                trigger,
                call("execute", command=f"touch /workspace/started; sleep {COMMAND_SECONDS}; echo long-{token}-{index}"),
                say(echo_last_tool_output()),
            )
            thread_id = (await alice.threads.create())["thread_id"]
            paused = await stream_run(alice, thread_id, input=user_input(f"Run the long one ({trigger})"))
            assert paused.interrupt_values, paused.describe()
            threads.append(thread_id)
        bobs_thread = (await bob.threads.create())["thread_id"]

        running = [asyncio.create_task(stream_run(alice, thread_id, command=resume(approve()))) for thread_id in threads]
        try:
            started = [engine_server.paths.workspace(thread_id) / "started" for thread_id in threads]
            for _ in range(300):
                if sum(path.exists() for path in started) >= MOST_THAT_STARTED_BEFORE:
                    break
                await asyncio.sleep(0.2)
            assert sum(path.exists() for path in started) >= MOST_THAT_STARTED_BEFORE, "the long commands never started"

            headers = {"Authorization": f"Bearer {engine_server.keys.token('user-b')}"}
            async with httpx.AsyncClient(base_url=engine_server.url, headers=headers, timeout=60) as http:

                async def listing() -> None:
                    answer = await http.get(f"/files/{bobs_thread}/list", params={"path": "/workspace"})
                    assert answer.status_code < 500, answer.text

                async def ok() -> None:
                    answer = await http.get(health)
                    assert answer.status_code == 200, answer.text

                took = {
                    "threads.search": await _timed("user B's threads.search", bob.threads.search(limit=10)),
                    "file listing": await _timed("user B's file listing", listing()),
                    health: await _timed(f"GET {health}", ok()),
                }
            # The load held while B was answered: at least MOST_THAT_STARTED_BEFORE were running and none had ended.
            assert not [task for task in running if task.done()], "a long command ended before user B was answered"
            # Every command was admitted (none refused by a cap); the last ones may start a moment after B's answers.
            for _ in range(300):
                if all(path.exists() for path in started):
                    break
                await asyncio.sleep(0.2)
            assert all(path.exists() for path in started), "not every long command started"
            done = await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
    for index, outcome in enumerate(done):
        assert f"long-{token}-{index}" in outcome.final_ai_text, outcome.describe()
    assert max(took.values()) < ANSWER_WITHIN, took
