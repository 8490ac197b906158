# ruff: noqa: RUF001  (the Chinese texts use full-width punctuation)
"""An MCP tool call in the web client: the reviewer sees its server, tool and arguments, in the client's language.

The shared browser server lists one MCP server, `notes` (a FastMCP streamable-HTTP server
in this test process, see `conftest.server`). The agent calls `notes__add_note`; the
approval card names the server and the tool and shows every argument; after a real click
on approve, the call's chip opens on the server's answer.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser_flows import DESKTOP, LONG, PHONE, approval_items, composer, open_client, send
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

WORDING = {
    "en-US": ["MCP server notes: call its tool add_note", "arguments:"],
    "zh-CN": ["MCP 服务器 notes：调用其工具 add_note", "参数："],
}


@pytest.mark.parametrize(("locale", "viewport"), [("en-US", DESKTOP), ("zh-CN", PHONE)], ids=["en-desktop", "zh-phone"])
def test_an_mcp_call_shows_its_server_and_arguments_and_its_answer(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM, locale: str, viewport, shoot
) -> None:
    note = f"buy milk {uuid.uuid4().hex[:8]}"
    prompt = f"remember it ({note})"
    scripted_llm.add_scenario(prompt, call("notes__add_note", text=note), say(f"noted {note}"))
    context = browser.new_context(viewport=viewport, locale=locale, has_touch=viewport is PHONE)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, server)
        if viewport is PHONE:  # on a phone Enter is a newline: the person taps send
            composer(page).tap()
            page.keyboard.type(prompt)
            page.get_by_test_id("send").tap()
        else:
            send(page, prompt)

        item = approval_items(page)
        expect(item).to_have_attribute("data-tool", "notes__add_note", timeout=LONG)
        for text in WORDING[locale]:
            expect(item).to_contain_text(text)
        expect(item).to_contain_text(f'"text": "{note}"')
        expect(item).not_to_contain_text("of MCP server")  # the server's English fallback is not what a reader sees
        shoot(page, f"mcp-approval-{locale}")
        if viewport is PHONE:
            item.get_by_test_id("decision-approve").tap()
        else:
            item.get_by_test_id("decision-approve").click()

        expect(page.get_by_test_id("ai-message").last).to_contain_text(f"noted {note}", timeout=LONG)
        chip = page.locator('[data-testid="tool-call"][data-tool="notes__add_note"]').last
        expect(chip).to_be_visible()
        if viewport is PHONE:
            chip.get_by_role("button").tap()
        else:
            chip.get_by_role("button").click()
        expect(chip.get_by_test_id("tool-result")).to_contain_text("noted (")
        expect(chip.get_by_test_id("tool-result")).to_contain_text(note)
    finally:
        context.close()
