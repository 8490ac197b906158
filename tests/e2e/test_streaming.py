"""A run streams `messages` and `updates` over SSE."""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import stream_run, user_input
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SCRIPTED_TEXT = "Streaming works: this scripted reply arrives in several small chunks over SSE."


async def test_run_streams_messages_and_updates(engine_client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    trigger = f"e2e-stream-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, say(SCRIPTED_TEXT))

    thread = await engine_client.threads.create()
    outcome = await stream_run(engine_client, thread["thread_id"], input=user_input(f"Say something ({trigger})"))

    names = set(outcome.event_names)
    assert not outcome.errors, outcome.describe()
    assert "metadata" in names, outcome.describe()
    assert any(n.startswith("updates") for n in names), f"no `updates` event: {outcome.describe()}"
    assert any(n.startswith("messages") for n in names), f"no `messages` event: {outcome.describe()}"
    assert outcome.final_ai_text == SCRIPTED_TEXT, outcome.describe()
    # The model streamed its answer in pieces, and the server relayed them as partial messages.
    assert max(outcome.partial_counts.values(), default=0) > 1, outcome.partial_counts

    [request] = scripted_llm.requests_for(trigger)
    assert request.body.get("stream") is True, "the agent should stream from the model when the client streams messages"
    assert {"execute", "write_file", "read_file", "ls"} <= set(request.tool_names), request.tool_names

    run = (await engine_client.runs.list(thread["thread_id"]))[0]
    assert run["status"] == "success", run
