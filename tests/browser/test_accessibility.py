"""Accessibility in a real browser: axe-core on the main views, the dark theme, keyboard focus and Escape.

axe-core comes from the client's own dev dependencies (`ui/node_modules`, installed by
`npm ci`) and is injected into the page; the page's strict CSP would refuse an injected
script, so these contexts bypass it (the CSP itself is tested in test_client.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser_flows import DESKTOP, LONG, PHONE, approval_items, composer, open_client, send, sign_in, wait_idle
from tests.support.e2e_servers import AuthServer
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] })
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary),
    }))
}"""

FOCUS_SHOWN = """() => {
  const el = document.activeElement
  if (!el || el === document.body) return null
  const ring = el.closest('.v-field') || el
  const style = getComputedStyle(ring)
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 1
  const label = el.getAttribute('aria-label') || el.getAttribute('data-testid') || el.textContent.trim().slice(0, 40) || el.tagName
  return { label, outline, shadow: style.boxShadow }
}"""


def new_context(browser: Browser, *, viewport: dict[str, int] = DESKTOP, dark: bool = False) -> BrowserContext:
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True, color_scheme="dark" if dark else "light")
    context.set_default_timeout(60_000)
    return context


def serious_violations(page: Page) -> list[dict[str, Any]]:
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` in ui/"
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    page.wait_for_timeout(400)  # let transitions (drawers, dialogs) finish before colours are measured
    return page.evaluate(RUN_AXE)


def assert_clean(page: Page, view: str) -> None:
    found = serious_violations(page)
    assert not found, f"{view}: " + "\n".join(f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found)


def background_luminance(page: Page) -> float:
    """Relative luminance (0 black .. 1 white) of the app's background colour."""
    return page.evaluate(
        """() => {
          const [r, g, b] = getComputedStyle(document.querySelector('.v-application')).backgroundColor.match(/\\d+/g).map(Number)
          const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4 }
          return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
        }"""
    )


def pending_approval(page: Page, scripted_llm: ScriptedLLM, prompt: str) -> None:
    scripted_llm.add_scenario(prompt, call("write_file", file_path="/workspace/a11y.txt", content="a11y\n"), say("a11y 完成"))
    send(page, prompt)
    expect(approval_items(page)).to_have_attribute("data-tool", "write_file", timeout=LONG)


def test_sign_in_has_no_serious_violations(browser: Browser, auth_server: AuthServer) -> None:
    for dark in (False, True):
        context = new_context(browser, dark=dark)
        try:
            page = context.new_page()
            page.goto(f"{auth_server.url}/app/")
            expect(page.get_by_test_id("token-input")).to_be_visible(timeout=LONG)
            assert_clean(page, f"sign-in (dark={dark})")
            sign_in(page, auth_server, "not-a-token")
            expect(page.get_by_test_id("token-input")).to_contain_text("服务器拒绝了此令牌", timeout=LONG)
            assert_clean(page, f"sign-in with an error (dark={dark})")
        finally:
            context.close()


@pytest.mark.parametrize(
    ("viewport", "dark"),
    [(DESKTOP, False), (DESKTOP, True), (PHONE, False), (PHONE, True)],
    ids=["desktop", "desktop-dark", "phone", "phone-dark"],
)
def test_main_views_have_no_serious_violations(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM, viewport: dict[str, int], dark: bool
) -> None:
    context = new_context(browser, viewport=viewport, dark=dark)
    phone = viewport is PHONE
    tag = f"{'phone' if phone else 'desktop'}-{'dark' if dark else 'light'}"
    try:
        page = context.new_page()
        open_client(page, server)
        luminance = background_luminance(page)
        assert (luminance < 0.05) if dark else (luminance > 0.8), f"background luminance {luminance} for dark={dark}"
        assert_clean(page, f"{tag}: empty chat")

        pending_approval(page, scripted_llm, f"无障碍检查 {tag}")
        assert_clean(page, f"{tag}: approval pending")
        approval_items(page).get_by_test_id("decision-approve").click()
        expect(page.get_by_test_id("ai-message").last).to_contain_text("a11y 完成", timeout=LONG)
        wait_idle(page)
        assert_clean(page, f"{tag}: chat with an answer")

        if phone:
            page.get_by_role("button", name="对话", exact=True).click()
            expect(page.get_by_test_id("thread-item").first).to_be_visible()
            assert_clean(page, f"{tag}: thread drawer")
            page.keyboard.press("Escape")
            expect(page.get_by_test_id("thread-item").first).not_to_be_in_viewport()
            page.get_by_test_id("toggle-workspace").click()
        panel = page.get_by_test_id("workspace-panel")
        expect(panel.get_by_test_id("file-a11y.txt")).to_be_visible(timeout=LONG)
        assert_clean(page, f"{tag}: workspace panel")
    finally:
        context.close()


def test_keyboard_focus_is_always_visible_and_escape_closes_dialogs(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM
) -> None:
    context = new_context(browser)
    try:
        page = context.new_page()
        open_client(page, server)
        send(page, "键盘检查")
        expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
        wait_idle(page)

        # Tab through the whole main view: every stop shows a focus ring.
        page.locator("body").click(position={"x": 640, "y": 5})
        seen: list[dict[str, Any]] = []
        for _ in range(30):
            page.keyboard.press("Tab")
            shown = page.evaluate(FOCUS_SHOWN)
            if shown:
                seen.append(shown)
        hidden = [s["label"] for s in seen if not s["outline"]]
        labels = {s["label"] for s in seen}
        assert len(labels) >= 8, labels
        assert not hidden, f"focus not visible on: {hidden}"

        # Escape closes each dialog; focus returns to the page.
        item = page.get_by_test_id("thread-item").first
        item.get_by_test_id("rename-thread").click()
        expect(page.get_by_test_id("rename-input")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("rename-input")).to_have_count(0)
        item.get_by_test_id("delete-thread").click()
        expect(page.get_by_test_id("confirm-delete")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("confirm-delete")).to_have_count(0)
        expect(page.get_by_test_id("thread-item")).not_to_have_count(0)
    finally:
        context.close()

    # At phone width both drawers cover the page: Escape closes them.
    context = new_context(browser, viewport=PHONE)
    try:
        page = context.new_page()
        open_client(page, server)
        page.get_by_role("button", name="对话", exact=True).click()
        new_thread = page.get_by_test_id("new-thread")
        expect(new_thread).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(new_thread).not_to_be_in_viewport()
        page.get_by_test_id("toggle-workspace").click()
        panel = page.get_by_test_id("workspace-panel")
        expect(panel).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(panel).not_to_be_in_viewport()
        expect(composer(page)).to_be_visible()
    finally:
        context.close()
