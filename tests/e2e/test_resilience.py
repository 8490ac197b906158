"""A failing sandbox call is reported to the client and does not take the server down."""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import RunOutcome, approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

MISSING_IMAGE = "no-such-image-xyz:never"


def _mentions_image(outcome: RunOutcome) -> bool:
    texts = [str(e) for e in outcome.errors]
    texts += [content_text(m) for m in outcome.messages.values()]
    return any("no-such-image-xyz" in t for t in texts)


async def test_missing_image_is_reported_and_server_survives(
    client: LangGraphClient, scripted_llm: ScriptedLLM, langgraph_server: LangGraphServer
) -> None:
    token = uuid.uuid4().hex[:8]
    broken = f"e2e-broken-image-{token}"
    healthy = f"e2e-healthy-{token}"
    scripted_llm.add_scenario(broken, call("execute", command="echo should-not-run"), say(echo_last_tool_output()))
    scripted_llm.add_scenario(healthy, call("execute", command=f"echo alive-{token}"), say(echo_last_tool_output()))
    context = {"sandbox_image": MISSING_IMAGE}

    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_run(client, thread_id, input=user_input(f"Run something ({broken})"), context=context)
    if first.errors:
        # The product may refuse the image up front; then the error must name it.
        assert _mentions_image(first), first.describe()
    else:
        assert [a["name"] for a in first.action_requests] == ["execute"], first.describe()
        second = await stream_run(client, thread_id, command=resume(approve()), context=context)
        assert _mentions_image(second), f"the client should learn which image failed: {second.describe()}"
        if not second.errors:
            state = await thread_state(client, thread_id)
            [result] = tool_messages(state, "execute")
            assert "should-not-run" not in content_text(result).replace("echo should-not-run", ""), result

    assert langgraph_server.alive, "the server process died"
    assert await client.assistants.search(graph_id="agent"), "the server stopped answering"

    # The next run, with the default image, works.
    other = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, other, input=user_input(f"Run something ({healthy})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, other, command=resume(approve()))
    assert not done.errors, done.describe()
    assert f"alive-{token}" in done.final_ai_text, done.describe()
