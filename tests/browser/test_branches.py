"""Editing a past message regenerates the answer as a new branch; the 1 / 2 switcher shows each branch."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import DESKTOP, LONG, open_client, send, wait_idle
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.docker]

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_edit_a_past_message_makes_a_branch_and_the_switcher_shows_each(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM, viewport: dict[str, int], shoot
) -> None:
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    context.set_default_timeout(60_000)
    try:
        edit_and_switch(context.new_page(), server, scripted_llm, shoot)
    finally:
        context.close()


def edit_and_switch(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    tag = uuid.uuid4().hex[:8]
    first, original, edited = f"第一个问题 {tag}", f"原来的第二个问题 {tag}", f"改过的第二个问题 {tag}"
    scripted_llm.add_scenario(first, say(f"第一个回答 {tag}"))
    scripted_llm.add_scenario(original, say(f"原来的回答 {tag}"))
    scripted_llm.add_scenario(edited, say(f"新分支的回答 {tag}"))
    open_client(page, server)
    send(page, first)
    expect(page.get_by_test_id("ai-message").last).to_contain_text(f"第一个回答 {tag}", timeout=LONG)
    wait_idle(page)
    send(page, original)
    expect(page.get_by_test_id("ai-message").last).to_contain_text(f"原来的回答 {tag}", timeout=LONG)
    wait_idle(page)

    second = page.get_by_test_id("human-message").nth(1)
    expect(second).to_have_text(original)
    page.get_by_test_id("edit-message").last.click()
    box = page.get_by_test_id("edit-box").locator("textarea:not([aria-hidden])")
    expect(box).to_have_value(original)
    box.fill("")
    box.press_sequentially(edited)
    page.get_by_test_id("edit-save").click()

    messages = page.get_by_test_id("messages")
    expect(page.get_by_test_id("ai-message").last).to_contain_text(f"新分支的回答 {tag}", timeout=LONG)
    wait_idle(page)
    expect(page.get_by_test_id("human-message")).to_have_text([first, edited])
    expect(messages).not_to_contain_text(f"原来的回答 {tag}")
    position = page.get_by_test_id("branch-position")
    expect(position).to_have_count(1, timeout=LONG)  # only the edited message has two versions
    expect(position).to_have_text("2 / 2")
    shoot(page, "branch-2")

    page.get_by_test_id("branch-previous").click()
    expect(position).to_have_text("1 / 2")
    expect(page.get_by_test_id("human-message")).to_have_text([first, original])
    expect(messages).to_contain_text(f"原来的回答 {tag}")
    expect(messages).not_to_contain_text(f"新分支的回答 {tag}")
    expect(messages).to_contain_text(f"第一个回答 {tag}")  # the shared part stays
    shoot(page, "branch-1")

    page.get_by_test_id("branch-next").click()
    expect(position).to_have_text("2 / 2")
    expect(messages).to_contain_text(f"新分支的回答 {tag}")

    # After a reload the branches are read back from the thread's history.
    page.reload()
    expect(page.get_by_test_id("branch-position")).to_have_text("2 / 2", timeout=LONG)
    page.get_by_test_id("branch-previous").click()
    expect(page.get_by_test_id("messages")).to_contain_text(f"原来的回答 {tag}")
