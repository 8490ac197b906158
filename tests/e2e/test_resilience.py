"""A failing sandbox call is reported to the client and does not take the server down."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, resume, stream_run, user_input
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

MISSING_IMAGE = "no-such-image-xyz:never"


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
    # An image off the allow-list (SANDBOX_ALLOWED_IMAGES) is refused before the run exists; the answer names it.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await stream_run(client, thread_id, input=user_input(f"Run something ({broken})"), context=context)
    assert refused.value.response.status_code == 422, refused.value.response.text
    assert MISSING_IMAGE in refused.value.response.text

    assert langgraph_server.alive, "the server process died"
    assert await client.assistants.search(graph_id="agent"), "the server stopped answering"

    # The next run, with the default image, works.
    other = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, other, input=user_input(f"Run something ({healthy})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, other, command=resume(approve()))
    assert not done.errors, done.describe()
    assert f"alive-{token}" in done.final_ai_text, done.describe()
