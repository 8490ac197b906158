"""The Processes panel in a real browser: the agent's dev server shows up running, its output can be read, and stopped.

Desktop (the panel sits under the workspace beside the chat, clicked) and phone
(inside the drawer behind the app bar's folder button, tapped). The process is
started the way a person starts one: they ask, the agent calls `start_process`,
they approve it with the mouse.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import LONG, approval_items, approve_pending, composer, open_client, send, wait_idle
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

PHONE = {"width": 390, "height": 844}
SERVER = "python3 -m http.server 8000"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, locale="en-US", has_touch=True, is_mobile=True)
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def start_dev_server(page: Page, scripted_llm: ScriptedLLM, *, touch: bool = False) -> None:
    trigger = f"serve-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("start_process", command=SERVER), say("The server runs in the background."))
    if touch:  # a touch keyboard's Enter is a newline: the Send button is tapped
        composer(page).fill(f"Start a dev server ({trigger})")
        page.get_by_test_id("send").tap()
        expect(approval_items(page)).to_have_attribute("data-tool", "start_process", timeout=LONG)
        approval_items(page).get_by_test_id("decision-approve").tap()
    else:
        send(page, f"Start a dev server ({trigger})")
        approve_pending(page, "start_process")
    wait_idle(page)


def test_the_panel_shows_a_running_process_its_output_and_stops_it(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_client(page, server)
    start_dev_server(page, scripted_llm)

    panel = page.get_by_test_id("processes-panel")
    row = panel.locator("[data-testid^='process-p']")
    expect(row).to_have_count(1, timeout=LONG)
    expect(row).to_contain_text(SERVER)
    expect(row.get_by_test_id("process-state")).to_have_attribute("data-state", "running")

    row.get_by_test_id("process-toggle-output").click()
    expect(row.get_by_test_id("process-output")).to_contain_text("Serving HTTP", timeout=LONG)
    shoot(page, "processes-panel-running")

    row.get_by_test_id("process-stop").click()
    expect(row.get_by_test_id("process-state")).to_have_attribute("data-state", "ended", timeout=LONG)
    expect(row.get_by_test_id("process-stop")).to_have_count(0)


def test_on_a_phone_the_panel_is_in_the_drawer_and_stop_is_tapped(
    phone: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    open_client(phone, server)
    start_dev_server(phone, scripted_llm, touch=True)

    panel = phone.get_by_test_id("processes-panel")
    expect(panel).not_to_be_in_viewport()
    phone.get_by_test_id("toggle-workspace").tap()
    expect(panel).to_be_in_viewport()
    row = panel.locator("[data-testid^='process-p']")
    expect(row.get_by_test_id("process-state")).to_have_attribute("data-state", "running", timeout=LONG)
    row.get_by_test_id("process-toggle-output").tap()
    expect(row.get_by_test_id("process-output")).to_contain_text("Serving HTTP", timeout=LONG)
    shoot(phone, "processes-panel-phone")
    row.get_by_test_id("process-stop").tap()
    expect(row.get_by_test_id("process-state")).to_have_attribute("data-state", "ended", timeout=LONG)
