"""A run's `sandbox_image`: only the administrator's allow-list, refused before anything is stored or pulled.

A registry on 127.0.0.1 (`TinyRegistry`) tells whether the server's Docker engine
was ever asked for the image. Runs on both engines of the contract suite.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, resume, stream_run, user_input
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.tiny_registry import TinyRegistry

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


async def _refused(request: Awaitable[Any]) -> str:
    """The 4xx answer's text; fails the test if the request was accepted."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await request
    assert refused.value.response.status_code == 422, refused.value.response.text
    return refused.value.response.text


async def test_a_run_naming_an_image_off_the_allow_list_is_refused_and_nothing_is_pulled(
    engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    trigger = f"e2e-image-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command="echo never"), say(echo_last_tool_output()))
    with TinyRegistry() as registry:
        thread_id = (await engine_client.threads.create())["thread_id"]
        prompt = user_input(f"Run it ({trigger})")
        for kwargs in ({"context": {"sandbox_image": registry.image}}, {"config": {"configurable": {"sandbox_image": registry.image}}}):
            text = await _refused(engine_client.runs.create(thread_id, "agent", input=prompt, **kwargs))
            assert "SANDBOX_ALLOWED_IMAGES" in text
            assert registry.image in text
        text = await _refused(engine_client.assistants.create("agent", context={"sandbox_image": registry.image}))
        assert "SANDBOX_ALLOWED_IMAGES" in text
        assert await engine_client.runs.list(thread_id) == []
        assert registry.requests == 0, "the server's Docker engine never asked the registry"


async def test_the_servers_own_image_may_be_named(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, sandbox_image: str) -> None:
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-own-image-{token}"
    scripted_llm.add_scenario(trigger, call("execute", command=f"echo ran-{token}"), say(echo_last_tool_output()))
    context = {"sandbox_image": sandbox_image}
    thread_id = (await engine_client.threads.create())["thread_id"]
    paused = await stream_run(engine_client, thread_id, input=user_input(f"Run it ({trigger})"), context=context)
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(engine_client, thread_id, command=resume(approve()), context=context)
    assert not done.errors, done.describe()
    assert f"ran-{token}" in done.final_ai_text, done.describe()
