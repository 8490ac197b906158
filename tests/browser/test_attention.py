"""An approval that waits gets the user's attention: the page title, and a notification in the background.

The tab is sent to the background by emulating the browser (`document.hidden` and a
`visibilitychange` event), and notifications are recorded as the page creates them
(the real `Notification` still runs; Chromium grants the permission when told to).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import DESKTOP, LONG, approval_items, open_client, send, wait_idle
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

RECORD_NOTIFICATIONS = """
window.__notifications = []
if (window.Notification) {
  const Original = window.Notification
  window.Notification = class extends Original {
    constructor(title, options) {
      window.__notifications.push({ title, body: options?.body || '' })
      super(title, options)
    }
  }
}
"""


def set_hidden(page: Page, hidden: bool) -> None:
    """Emulate the tab going to the background (or coming back)."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden })
            Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => hidden ? 'hidden' : 'visible' })
            document.dispatchEvent(new Event('visibilitychange'))
        }""",
        hidden,
    )


def notifications(page: Page) -> list[dict[str, str]]:
    return page.evaluate("window.__notifications")


def test_a_waiting_approval_shows_in_the_title_and_notifies_only_when_allowed(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM
) -> None:
    quiet = "attention: approval without notifications"
    loud = "attention: approval with notifications"
    for prompt in (quiet, loud):
        scripted_llm.add_scenario(prompt, call("write_file", file_path=f"/workspace/{prompt[-5:]}.txt", content="x\n"), say("written"))
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(60_000)
    context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    try:
        page = context.new_page()
        open_client(page, server)
        expect(page).to_have_title("Deep Agent")
        bell = page.get_by_test_id("notify-toggle")
        expect(bell).to_have_attribute("aria-pressed", "false")  # never on by itself, even with permission

        # In the background with the bell off: the title says it, no notification.
        set_hidden(page, True)
        send(page, quiet)
        expect(page).to_have_title(f"(1) Approval waiting — {quiet}", timeout=LONG)
        assert notifications(page) == []
        set_hidden(page, False)
        approval_items(page).get_by_test_id("decision-approve").click()
        expect(page.get_by_test_id("ai-message").last).to_contain_text("written", timeout=LONG)
        wait_idle(page)
        expect(page).to_have_title(f"{quiet} — Deep Agent")

        # The bell turns notifications on (a user's click); the next approval in the background notifies.
        bell.click()
        expect(bell).to_have_attribute("aria-pressed", "true")
        page.get_by_test_id("new-thread").click()
        set_hidden(page, True)
        send(page, loud)
        expect(page).to_have_title(f"(1) Approval waiting — {loud}", timeout=LONG)
        page.wait_for_function("window.__notifications.length > 0", timeout=LONG)
        assert notifications(page) == [{"title": "Waiting for approval", "body": loud}]

        # In the foreground, a new approval only changes the title; the bell's choice survives a reload.
        set_hidden(page, False)
        page.reload()
        expect(page.get_by_test_id("notify-toggle")).to_have_attribute("aria-pressed", "true", timeout=LONG)
        expect(page).to_have_title(re.compile(r"^\(1\) Approval waiting — "), timeout=LONG)
        assert notifications(page) == []
    finally:
        context.close()


def test_the_bell_explains_when_the_browser_refuses(browser: Browser, server: LangGraphServer) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, server)
        bell = page.get_by_test_id("notify-toggle")
        bell.click()
        expect(page.get_by_test_id("notice")).to_contain_text("blocks notifications", timeout=LONG)
        expect(bell).to_have_attribute("aria-pressed", "false")
    finally:
        context.close()
