"""Any connection can join a running run: its stream, its live output and its result.

On Aegra with several processes a join may land on a process that does not run
the run; Redis carries the run's events there. The test reads `/proc` to see
which processes served the joins, and Aegra's log to see which one ran the run:
some joins must have been served by another process. The contract both engines meet:
a join made while a run runs receives every event from then on (the live output
of its command included) and ends when the run ends; `runs.join` returns the
run's final state. (`langgraph dev` starts a join at the join; Aegra also replays
what came before, which this contract does not require.) A join names no
`stream_mode`, so it gets the run's own modes: `langgraph dev` drops `custom`
events from a join that names modes.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from agent.live_output import EXECUTE_OUTPUT_EVENT
from tests.support.agent_client import GRAPH_ID, RUN_TIMEOUT, approve, last_ai_text, resume, stream_run, user_input
from tests.support.connections import connection_holders
from tests.support.e2e_servers import CONTRACT_USER, AuthServer
from tests.support.engines import AEGRA, CONTRACT_AEGRA_WORKERS
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

JOINERS = 12
"""Joins from separate connections: with two Aegra processes, some land on the one not running the run."""
POLL_SECONDS = 0.3
LINES = 8
SLOW_COMMAND = f"for i in $(seq 1 {LINES}); do echo line $i; sleep 1; done"


async def _join_stream(server: AuthServer, thread_id: str, run_id: str) -> list[tuple[str, Any]]:
    async with server.client(CONTRACT_USER) as joiner:
        stream = joiner.runs.join_stream(thread_id, run_id)
        return [(part.event, part.data) async for part in stream]


async def _join_result(server: AuthServer, thread_id: str, run_id: str) -> dict[str, Any]:
    async with server.client(CONTRACT_USER) as joiner:
        return dict(await joiner.runs.join(thread_id, run_id))


def _aegra_executor(server: AuthServer, run_id: str) -> int:
    """The process that ran `run_id`: Aegra logs "Worker picked up run" with its worker id, `vm-<pid>-worker-<n>`."""
    for line in server.server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if run_id in line and "Worker picked up run" in line and (found := re.search(r'"vm-(\d+)-worker-\d+"', line)):
            return int(found.group(1))
    raise AssertionError(f"Aegra's log does not say which process ran {run_id}")


async def _serving_processes(server: AuthServer, until: asyncio.Future[Any]) -> set[int]:
    """Every process seen holding a connection to the server's port until `until` is done."""
    port = int(server.url.rsplit(":", 1)[1])
    seen: set[int] = set()
    while not until.done():
        seen.update(await asyncio.to_thread(connection_holders, port))
        await asyncio.sleep(POLL_SECONDS)
    return seen


def _live_chunks(events: list[tuple[str, Any]]) -> str:
    return "".join(
        data["chunk"] for event, data in events if event == "custom" and isinstance(data, dict) and data.get("type") == EXECUTE_OUTPUT_EVENT
    )


async def test_runs_are_joined_from_any_connection(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    trigger = f"e2e-join-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command=SLOW_COMMAND), say(echo_last_tool_output("joined: ")))
    async with engine_server.client(CONTRACT_USER) as client:
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"run slowly ({trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        # `values` too: Aegra's `runs.join` returns the run's last `values` event (langgraph dev: the thread's values).
        modes = ["values", "custom", "updates"]
        run = await client.runs.create(thread_id, GRAPH_ID, command=resume(approve()), stream_mode=modes)  # type: ignore[arg-type]
        async with asyncio.timeout(RUN_TIMEOUT):
            streams = [asyncio.create_task(_join_stream(engine_server, thread_id, run["run_id"])) for _ in range(JOINERS)]
            results = [asyncio.create_task(_join_result(engine_server, thread_id, run["run_id"])) for _ in range(JOINERS // 2)]
            joining = asyncio.gather(*streams)
            processes = await _serving_processes(engine_server, joining)
            joined = await joining
            finals = await asyncio.gather(*results)
        state = dict(await client.threads.get_state(thread_id))

    assert processes, "no connection to the server was seen"
    if engine_server.engine == AEGRA and CONTRACT_AEGRA_WORKERS > 1:
        executor = _aegra_executor(engine_server, run["run_id"])
        assert processes - {executor}, f"every join was served by {executor}, the process that ran the run"
    expected_tail = "".join(f"line {i}\n" for i in range(LINES - 2, LINES + 1))
    for events in joined:
        assert not [data for event, data in events if event == "error"], events
        # Joined within a second of a command that prints for eight: the last lines arrive live on every join.
        assert _live_chunks(events).endswith(expected_tail), [(e, str(d)[:80]) for e, d in events]
        assert any(event == "updates" and isinstance(data, dict) and "tools" in data for event, data in events), [e for e, _ in events]
    answer = f"joined: {''.join(f'line {i}{chr(10)}' for i in range(1, LINES + 1))}".strip()
    assert answer in last_ai_text(state), last_ai_text(state)
    for final in finals:
        messages = final.get("messages") or []
        assert answer in str(messages[-1].get("content")), final


async def test_info_answers_when_ready(engine_server: AuthServer) -> None:
    """Readiness is `/info` on every engine (`/ok` exists on `langgraph dev` only)."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{engine_server.url}/info")
    assert response.status_code == 200, response.text
