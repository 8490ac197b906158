# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""A subagent's work (`task`) shows as one collapsible step, with its own tool calls and output."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser_flows import LONG, open_client, send, wait_idle
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]


def test_a_subagents_tool_calls_are_grouped_under_its_task_and_collapsed(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    tag = uuid.uuid4().hex[:8]
    prompt = f"派一个子智能体去看工作区 {tag}"
    subtask = f"列出工作区里的文件并汇报 {tag}-sub"
    scripted_llm.add_scenario(
        prompt,
        call("task", description=subtask, subagent_type="general-purpose"),
        say("主智能体：子任务已完成"),
    )
    scripted_llm.add_scenario(subtask, call("ls", path="/workspace"), say("子智能体的报告：看过了"))
    open_client(page, server)
    send(page, prompt)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("主智能体：子任务已完成", timeout=LONG)
    wait_idle(page)

    step = page.get_by_test_id("subagent-step")
    expect(step).to_have_count(1)
    toggle = step.get_by_test_id("subagent-toggle")
    expect(toggle).to_contain_text(subtask)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # Collapsed: the subagent's own calls are not in the transcript, and not beside the step either.
    expect(step.get_by_test_id("subagent-body")).to_have_count(0)
    expect(page.locator("[data-testid=tool-call][data-tool=ls]")).to_have_count(0)
    expect(page.get_by_test_id("messages")).not_to_contain_text("子智能体的报告")
    shoot(page, "subagent-collapsed")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    body = step.get_by_test_id("subagent-body")
    expect(body.locator("[data-testid=tool-call][data-tool=ls]")).to_have_count(1)
    expect(body).to_contain_text("子智能体的报告：看过了")
    shoot(page, "subagent-open")

    toggle.click()
    expect(step.get_by_test_id("subagent-body")).to_have_count(0)
