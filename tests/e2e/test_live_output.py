"""`execute` output reaches SDK clients while the command runs, in both sandbox modes.

A client streams with `stream_mode=["custom", ...]` and receives
`{"type": "execute_output", "tool_call_id": ..., "chunk": ...}` events long before
the tool result; v2 clients get the same chunks as `tool-output-delta` events.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from agent.live_output import EXECUTE_OUTPUT_EVENT
from sandbox.runs.live_output import EVENT_INTERVAL_SECONDS, MAX_EVENT_BYTES
from tests.support.agent_client import (
    GRAPH_ID,
    RUN_TIMEOUT,
    approve,
    resume,
    state_messages,
    stream_run,
    tool_messages,
    user_input,
)
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SIX_SECONDS = "for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done"
FLOOD = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 60000000; echo flooded"
_NOTE_ROOM = 200


@dataclass
class TimedRun:
    """A streamed run, each event stamped with when the client received it."""

    events: list[tuple[float, str, Any]] = field(default_factory=list)

    def live(self) -> list[tuple[float, dict[str, Any]]]:
        """The live-output custom events."""
        return [
            (at, data)
            for at, event, data in self.events
            if event == "custom" and isinstance(data, dict) and data.get("type") == EXECUTE_OUTPUT_EVENT
        ]

    def tool_result_at(self) -> float:
        """When the `updates` event carrying the execute tool message arrived."""
        for at, event, data in self.events:
            if event == "updates" and isinstance(data, dict) and "tools" in data:
                return at
        raise AssertionError(f"no tool result in {[e for _, e, _ in self.events]}")


async def _timed_resume(client: LangGraphClient, thread_id: str) -> TimedRun:
    run = TimedRun()
    async with asyncio.timeout(RUN_TIMEOUT):
        async for part in client.runs.stream(thread_id, GRAPH_ID, command=resume(approve()), stream_mode=["custom", "updates"]):  # type: ignore[call-overload]
            run.events.append((time.monotonic(), part.event, part.data))
    assert not [d for _, e, d in run.events if e == "error"], run.events
    return run


async def _paused_at_execute(client: LangGraphClient, llm: ScriptedLLM, command: str) -> tuple[str, str]:
    """A thread whose run waits for approval of `execute(command)`; returns (thread id, tool call id)."""
    trigger = f"live-{uuid.uuid4().hex[:8]}"
    llm.add_scenario(trigger, call("execute", command=command), say(echo_last_tool_output("done: ")))
    thread_id = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, thread_id, input=user_input(f"run it ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    state = await client.threads.get_state(thread_id)
    [tool_call] = [tc for m in state_messages(dict(state)) for tc in m.get("tool_calls") or []]
    return thread_id, tool_call["id"]


async def test_first_line_arrives_while_the_command_runs(engine_client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    """Ephemeral mode, on every engine (the contract suite)."""
    await _first_line_arrives_while_the_command_runs(engine_client, scripted_llm)


async def test_first_line_arrives_while_the_command_runs_in_session_mode(
    session_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    await _first_line_arrives_while_the_command_runs(session_client, scripted_llm)


async def _first_line_arrives_while_the_command_runs(client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    thread_id, tool_call_id = await _paused_at_execute(client, scripted_llm, SIX_SECONDS)
    run = await _timed_resume(client, thread_id)

    live = run.live()
    assert live, run.events
    assert {data["tool_call_id"] for _, data in live} == {tool_call_id}
    assert "".join(data["chunk"] for _, data in live) == "".join(f"line {i}\n" for i in range(1, 7))
    first_line_at = next(at for at, data in live if "line 1" in data["chunk"])
    # The command takes 6 s: line 1 must be seconds ahead of the tool result, and more lines follow it.
    assert run.tool_result_at() - first_line_at > 3.0, [(round(at - first_line_at, 2), d["chunk"]) for at, d in live]
    assert len(live) >= 4
    # The final tool message is the usual one.
    [message] = tool_messages(dict(await client.threads.get_state(thread_id)), "execute")
    assert "line 6" in str(message["content"])


async def test_flood_ends_capped_and_the_stream_stays_bounded(engine_client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    """Ephemeral mode, on every engine (the contract suite)."""
    await _flood_ends_capped_and_the_stream_stays_bounded(engine_client, scripted_llm)


async def test_flood_ends_capped_and_the_stream_stays_bounded_in_session_mode(
    session_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    await _flood_ends_capped_and_the_stream_stays_bounded(session_client, scripted_llm)


async def _flood_ends_capped_and_the_stream_stays_bounded(client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    thread_id, _ = await _paused_at_execute(client, scripted_llm, FLOOD)
    started = time.monotonic()
    run = await _timed_resume(client, thread_id)
    elapsed = time.monotonic() - started

    live = run.live()
    assert live, run.events
    assert len(live) <= elapsed / EVENT_INTERVAL_SECONDS + 2, (len(live), elapsed)
    assert max(len(data["chunk"].encode()) for _, data in live) <= MAX_EVENT_BYTES + _NOTE_ROOM
    assert "bytes not shown live" in "".join(data["chunk"] for _, data in live)
    # The tool result is the capped, offloaded preview, as without live output.
    [message] = tool_messages(dict(await client.threads.get_state(thread_id)), "execute")
    content = str(message["content"])
    assert len(content) < 100_000
    assert "limit" in content or "truncated" in content, content[-500:]


async def test_v2_tools_channel_carries_output_deltas(client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    trigger = f"live-v2-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command=SIX_SECONDS), say(echo_last_tool_output("done: ")))
    deltas: list[tuple[float, str]] = []
    finished: dict[str, float] = {}

    async def collect(thread: Any) -> None:
        # The raw event stream spans the interrupt and the resumed run (the typed
        # `thread.tool_calls` projection ends when the first run pauses).
        async for event in thread.events:
            data = (event.get("params") or {}).get("data") or {}
            if event.get("method") != "tools":
                continue
            if data.get("event") == "tool-output-delta":
                deltas.append((time.monotonic(), data["delta"]))
            elif data.get("event") == "tool-finished":
                finished[data["tool_call_id"]] = time.monotonic()
                return

    async with asyncio.timeout(RUN_TIMEOUT), client.threads.stream(assistant_id=GRAPH_ID) as thread:
        collector = asyncio.create_task(collect(thread))
        await thread.run.start(input=user_input(f"run it ({trigger})"))
        while not thread.interrupted:  # noqa: ASYNC110 - the SDK offers a flag, not an event
            await asyncio.sleep(0.05)
        await thread.run.respond({"decisions": [approve()]})
        await collector
    assert "".join(delta for _, delta in deltas) == "".join(f"line {i}\n" for i in range(1, 7))
    [finished_at] = finished.values()
    assert finished_at - deltas[0][0] > 3.0, [(round(at - deltas[0][0], 2), d) for at, d in deltas]
