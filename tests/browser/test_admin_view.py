"""The admin view in the web client: an admin sees a live sandbox and stops it with a click; nobody else sees it.

A user's agent runs an approved `sleep` (a real container); the admin, on a
desktop and on a phone, opens the admin view from the app bar, finds that
sandbox with its owner, and stops it with a real click. A user who is no admin
gets no admin entry, and 403 from the admin routes.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client
from playwright.sync_api import Browser, ViewportSize, expect

from tests.support.agent_client import GRAPH_ID, approve, resume, user_input
from tests.support.auth_keys import ADMIN_USER
from tests.support.browser_flows import DESKTOP, LONG, PHONE, composer, sign_in
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

OWNER = "browser-sleeper"
AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = """async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)"""
"""axe-core's serious and critical findings (the page's CSP is bypassed so it can be injected, as in test_accessibility)."""


def _start_sleeping_command(server: AuthServer, scripted_llm: ScriptedLLM) -> tuple[str, str]:
    """A thread of `OWNER` whose approved `sleep 300` is running; (thread id, run id)."""
    marker = f"admin-ui-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(marker, call("execute", command="sleep 300"), say("done"))
    client = get_sync_client(url=server.url, headers={"Authorization": f"Bearer {server.keys.token(OWNER)}"})
    thread_id = str(client.threads.create()["thread_id"])
    client.runs.wait(thread_id, GRAPH_ID, input=user_input(f"sleep ({marker})"))
    run = client.runs.create(thread_id, GRAPH_ID, command=resume(approve()))  # type: ignore[arg-type]
    return thread_id, str(run["run_id"])


def _run_status(server: AuthServer, thread_id: str, run_id: str) -> str:
    client = get_sync_client(url=server.url, headers={"Authorization": f"Bearer {server.keys.token(OWNER)}"})
    return str(client.runs.get(thread_id, run_id)["status"])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_admin_sees_a_live_sandbox_and_stops_it_with_a_click(
    browser: Browser, auth_server: AuthServer, scripted_llm: ScriptedLLM, viewport: ViewportSize, shoot
) -> None:
    thread_id, run_id = _start_sleeping_command(auth_server, scripted_llm)
    context = browser.new_context(viewport=viewport, locale="en-US", has_touch=viewport is PHONE, bypass_csp=True)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        sign_in(page, auth_server, auth_server.keys.token(ADMIN_USER))
        expect(composer(page)).to_be_visible(timeout=LONG)
        page.get_by_test_id("open-admin").click()
        view = page.get_by_test_id("admin-view")
        expect(view).to_be_visible()
        box = view.locator(f'[data-testid="admin-sandbox"][data-thread="{thread_id}"]')
        deadline = time.monotonic() + 60
        while box.count() == 0 and time.monotonic() < deadline:  # the container may still be starting
            page.get_by_test_id("admin-refresh").click()
            page.wait_for_timeout(1000)
        expect(box).to_be_visible()
        expect(box.get_by_test_id("admin-sandbox-owner")).to_have_text(OWNER)
        expect(box.get_by_test_id("admin-sandbox-memory")).to_contain_text("MiB")
        expect(box.get_by_test_id("admin-sandbox-cpu")).to_contain_text("%")
        shoot(page, "admin-sandboxes")
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(SERIOUS) == []

        stop = box.get_by_test_id("admin-stop")
        stop.scroll_into_view_if_needed()
        stop.click()
        expect(page.get_by_test_id("notice")).to_contain_text(OWNER)
        expect(box).to_have_count(0)
        deadline = time.monotonic() + 60
        while _run_status(auth_server, thread_id, run_id) in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _run_status(auth_server, thread_id, run_id) == "success", "the stopped command's run did not end"

        page.get_by_test_id("admin-tab-audit").click()
        rows = page.get_by_test_id("admin-audit-row")
        expect(rows.nth(1)).to_be_visible()
        # The stop and the end of the command it killed are written as they happen, in either order.
        newest_two = [rows.nth(index).inner_text() for index in range(2)]
        assert any("stop_sandbox" in row for row in newest_two), newest_two
        page.get_by_test_id("admin-tab-disk").click()
        expect(page.get_by_test_id("admin-disk")).to_contain_text(OWNER)
        shoot(page, "admin-disk")
        page.get_by_test_id("admin-close").click()
        expect(view).to_have_count(0)
    finally:
        context.close()


def test_a_user_who_is_no_admin_sees_no_admin_entry_and_gets_403(browser: Browser, auth_server: AuthServer) -> None:
    context = browser.new_context(viewport=PHONE, locale="en-US", has_touch=True)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        token = auth_server.keys.token("not-an-admin")
        sign_in(page, auth_server, token)
        expect(composer(page)).to_be_visible(timeout=LONG)
        page.wait_for_load_state("networkidle")
        expect(page.get_by_test_id("open-admin")).to_have_count(0)
        expect(page.get_by_test_id("admin-view")).to_have_count(0)
    finally:
        context.close()
    with httpx.Client(base_url=auth_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for path in ("/admin/sandboxes", "/admin/disk", "/admin/audit"):
            assert http.get(path).status_code == 403, path
        assert http.post("/admin/sandboxes/0123456789ab/stop").status_code == 403
