# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""A thread remembers its conversation; another thread does not share it."""

from __future__ import annotations

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import stream_run, user_input
from tests.support.scripted_llm import UNKNOWN_NAME_REPLY, ScriptedLLM, recall_name, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REMEMBER = "记住：我的名字是Alice"
ASK = "我叫什么名字？"


@pytest.fixture
def memory_script(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.add_scenario("记住：我的名字是", say("好的，我记住了。"))
    scripted_llm.add_scenario("我叫什么名字", say(recall_name))


@pytest.mark.usefixtures("memory_script")
async def test_same_thread_remembers_the_name(engine_client: LangGraphClient) -> None:
    thread_id = (await engine_client.threads.create())["thread_id"]

    told = await stream_run(engine_client, thread_id, input=user_input(REMEMBER))
    assert not told.errors, told.describe()
    assert "记住" in told.final_ai_text, told.describe()

    asked = await stream_run(engine_client, thread_id, input=user_input(ASK))
    assert not asked.errors, asked.describe()
    assert "Alice" in asked.final_ai_text, asked.describe()


@pytest.mark.usefixtures("memory_script")
async def test_other_thread_does_not_know_the_name(engine_client: LangGraphClient) -> None:
    remembering = (await engine_client.threads.create())["thread_id"]
    await stream_run(engine_client, remembering, input=user_input(REMEMBER))

    stranger = (await engine_client.threads.create())["thread_id"]
    asked = await stream_run(engine_client, stranger, input=user_input(ASK))
    assert not asked.errors, asked.describe()
    assert "Alice" not in asked.final_ai_text, asked.describe()
    assert asked.final_ai_text == UNKNOWN_NAME_REPLY, asked.describe()
