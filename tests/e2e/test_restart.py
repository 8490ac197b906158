"""A pending approval survives a server restart: the thread, its interrupt and its workspace are still there.

Both engines keep their state outside the process (`langgraph dev` pickles it to
its working directory on shutdown, Aegra keeps it in PostgreSQL), so a deploy or
a crash recovery never loses a question the agent asked a human. (On `langgraph dev`
the server is one of its own: see `restartable_server` for what it loses otherwise.)
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.agent_client import approve, pending_interrupt_values, resume, stream_run, thread_state, user_input
from tests.support.e2e_servers import CONTRACT_USER, AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


async def test_a_pending_approval_survives_a_restart(restartable_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-restart-{token}"
    scripted_llm.add_scenario(
        trigger,
        call("write_file", file_path="/workspace/before.txt", content=f"written before the restart {token}\n"),
        call("execute", command="cat /workspace/before.txt"),
        say(echo_last_tool_output("after the restart: ")),
    )
    async with restartable_server.client(CONTRACT_USER) as client:
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"write, restart, run ({trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["write_file"], paused.describe()
        written = await stream_run(client, thread_id, command=resume(approve()))
        assert [a["name"] for a in written.action_requests] == ["execute"], written.describe()
        before = pending_interrupt_values(await thread_state(client, thread_id))

    await asyncio.to_thread(restartable_server.restart)

    async with restartable_server.client(CONTRACT_USER) as client:
        state = await thread_state(client, thread_id)
        assert state["next"], "the restarted server lost the paused run"
        assert pending_interrupt_values(state) == before
        done = await stream_run(client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        assert not done.interrupts, done.describe()
        assert f"after the restart: written before the restart {token}" in done.final_ai_text, done.describe()
        latest = max(await client.runs.list(thread_id), key=lambda r: r["created_at"])
        assert latest["status"] == "success", latest
    async with restartable_server.client("user-b") as other:
        assert thread_id not in {t["thread_id"] for t in await other.threads.search(limit=1000)}, "a restart must keep ownership"
