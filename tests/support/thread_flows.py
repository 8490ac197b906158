# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""What a person does with the thread list, as steps the browser tests run on `langgraph dev` and on Aegra."""

from __future__ import annotations

from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from tests.support.browser_flows import (
    LONG,
    PHONE,
    Shoot,
    approval_items,
    composer,
    current_thread_id,
    model_breaks,
    open_client,
    send,
    wait_idle,
)
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say


def item(page: Page, thread_id: str) -> Locator:
    return page.locator(f'[data-testid="thread-item"][data-thread-id="{thread_id}"]')


def listed_ids(page: Page) -> list[str]:
    ids: list[str] = page.get_by_test_id("thread-item").evaluate_all("els => els.map(el => el.dataset.threadId)")
    return ids


def new_conversation(page: Page, text: str) -> str:
    page.get_by_test_id("new-thread").click()
    send(page, text)
    page.wait_for_url("**#thread=*", timeout=LONG)
    return current_thread_id(page)


def threads_follow_last_activity_and_show_their_status(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot: Shoot
) -> None:
    """Three threads done, failed and waiting: their badges, then new activity reorders the list."""
    done_prompt = "状态测试：直接回答"
    failed_prompt = "状态测试：模型出错"
    waiting_prompt = "状态测试：等待批准的慢命令"
    scripted_llm.add_scenario(failed_prompt, say(model_breaks))
    scripted_llm.add_scenario(waiting_prompt, call("execute", command="sleep 5; echo status-done"), say(echo_last_tool_output("慢命令：")))
    open_client(page, server)

    done = new_conversation(page, done_prompt)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    wait_idle(page)
    failed = new_conversation(page, failed_prompt)
    expect(page.get_by_test_id("run-error")).to_be_visible(timeout=LONG)
    wait_idle(page)
    waiting = new_conversation(page, waiting_prompt)
    expect(approval_items(page)).to_have_attribute("data-tool", "execute", timeout=LONG)

    def badge(thread_id: str) -> Locator:
        return item(page, thread_id).get_by_test_id("thread-status")

    expect(badge(waiting)).to_have_attribute("data-status", "interrupted", timeout=LONG)
    expect(badge(waiting)).to_contain_text("等待批准")
    expect(badge(failed)).to_have_attribute("data-status", "error")
    expect(badge(failed)).to_contain_text("失败")
    expect(badge(done)).to_have_attribute("data-status", "idle")
    shoot(page, "statuses")

    # Approving starts the slow command: the thread shows as running, then done.
    approval_items(page).get_by_test_id("decision-approve").click()
    expect(badge(waiting)).to_have_attribute("data-status", "busy", timeout=LONG)
    expect(badge(waiting)).to_contain_text("运行中")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("status-done", timeout=LONG)
    wait_idle(page)
    expect(badge(waiting)).to_have_attribute("data-status", "idle", timeout=LONG)
    assert listed_ids(page)[:3] == [waiting, failed, done]

    # New activity in the oldest thread moves it to the top (creation order would not).
    item(page, done).click()
    expect(page.get_by_test_id("human-message")).to_have_count(1, timeout=LONG)
    send(page, "状态测试：再说一句")
    expect(page.get_by_test_id("ai-message")).to_have_count(2, timeout=LONG)
    wait_idle(page)
    expect(page.get_by_test_id("thread-item").first).to_have_attribute("data-thread-id", done, timeout=LONG)
    page.reload()
    expect(page.get_by_test_id("thread-item").first).to_have_attribute("data-thread-id", done, timeout=LONG)
    assert listed_ids(page)[:3] == [done, waiting, failed]


def rename(page: Page, thread_id: str, title: str) -> None:
    item(page, thread_id).get_by_test_id("rename-thread").click()
    field = page.get_by_test_id("rename-input").locator("input")
    expect(field).to_be_focused()
    field.press("Control+a")
    page.keyboard.type(title)
    page.get_by_test_id("confirm-rename").click()
    expect(page.get_by_test_id("rename-input")).to_have_count(0)


def rename_and_search_threads(browser: Browser, server: LangGraphServer, viewport: ViewportSize, shoot: Shoot) -> None:
    """Rename a thread by its dialog, find threads by title and first message, and keep the title after a reload."""
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    context.set_default_timeout(60_000)
    phone = viewport is PHONE
    try:
        page = context.new_page()
        open_client(page, server)
        tag = "phone" if phone else "desk"

        def show_list() -> None:
            if phone:  # the list is behind the menu button
                page.get_by_role("button", name="对话", exact=True).click()
                expect(page.get_by_test_id("new-thread")).to_be_in_viewport()

        show_list()
        first = new_conversation(page, f"关于苹果的问题 {tag}")
        expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
        wait_idle(page)
        show_list()
        second = new_conversation(page, f"关于香蕉的问题 {tag}")
        expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
        wait_idle(page)
        show_list()

        rename(page, second, f"水果清单 {tag}")
        expect(item(page, second)).to_contain_text(f"水果清单 {tag}")
        if not phone:
            expect(page.get_by_test_id("thread-title")).to_have_text(f"水果清单 {tag}")

        # Search matches the title (renamed) or the first message, case-insensitively.
        search = page.get_by_test_id("thread-search").locator("input")
        search.click()
        page.keyboard.type("清单")
        expect(item(page, second)).to_be_visible()
        expect(item(page, first)).to_have_count(0)
        search.press("Control+a")
        page.keyboard.type("苹果")
        expect(item(page, first)).to_be_visible()
        expect(item(page, second)).to_have_count(0)
        search.press("Control+a")
        page.keyboard.type("没有这样的对话")
        expect(page.get_by_test_id("thread-item")).to_have_count(0)
        expect(page.get_by_test_id("no-matches")).to_be_visible()
        shoot(page, "search-empty")
        page.get_by_test_id("thread-search").get_by_role("button").click()  # the field's clear button
        expect(item(page, first)).to_be_visible()
        expect(item(page, second)).to_be_visible()

        # The new title is the server's: it survives a reload.
        page.reload()
        show_list()
        expect(item(page, second)).to_contain_text(f"水果清单 {tag}", timeout=LONG)
        expect(composer(page)).to_be_visible()
    finally:
        context.close()
