"""Under each finished turn, "N files changed" expands to the files the turn changed and their diffs.

The thread is prepared through the SDK (turn 1 writes a file with `write_file`,
turn 2 edits it with `sed -i` through `execute`, both without approvals); a person
opens it in the web client, clicks each turn's summary, and reads the diff.
"""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk import get_sync_client
from playwright.sync_api import Browser, expect

from tests.support.agent_client import user_input
from tests.support.browser_flows import DESKTOP, LONG
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

PHONE = {"width": 390, "height": 844}


def two_turns(server: LangGraphServer, scripted_llm: ScriptedLLM, tag: str) -> str:
    """A thread whose turn 1 wrote a file and turn 2 edited it; returns its id."""
    path = f"/workspace/turn-{tag}.txt"
    scripted_llm.add_scenario(f"write it {tag}", call("write_file", file_path=path, content="alpha\nbeta\n"), say(f"written {tag}"))
    scripted_llm.add_scenario(f"edit it {tag}", call("execute", command=f"sed -i s/beta/gamma/ {path}"), say(f"edited {tag}"))
    client = get_sync_client(url=server.url, timeout=(10.0, 180.0, 180.0, 180.0))
    try:
        assistant = client.assistants.create(graph_id="agent", context={"approval_tools": []}, name=f"turn-changes-{tag}")
        thread_id = str(client.threads.create()["thread_id"])
        for text in (f"write it {tag}", f"edit it {tag}"):
            client.runs.wait(thread_id, assistant["assistant_id"], input=user_input(text))
    finally:
        client.close()
    return thread_id


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_each_turn_lists_its_changed_files_with_diffs(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM, viewport: dict[str, int], shoot
) -> None:
    tag = uuid.uuid4().hex[:8]
    thread_id = two_turns(server, scripted_llm, tag)
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/app/#thread={thread_id}")
        page.reload()
        expect(page.get_by_test_id("human-message")).to_have_count(2, timeout=LONG)
        summaries = page.get_by_test_id("turn-changes")
        expect(summaries).to_have_count(2, timeout=LONG)
        toggles = page.get_by_test_id("turn-changes-toggle")
        expect(toggles.first).to_have_text("1 file changed")
        expect(page.get_by_test_id("turn-change-diff")).to_have_count(0)

        toggles.first.click()
        first = summaries.first
        expect(first.get_by_test_id("turn-change-path")).to_have_text(f"turn-{tag}.txt")
        expect(first.get_by_test_id("turn-change-status")).to_have_text("added")
        expect(first.get_by_test_id("turn-change-diff")).to_contain_text("+alpha")
        expect(first.get_by_test_id("turn-changes-toggle")).to_have_attribute("aria-expanded", "true")

        toggles.last.scroll_into_view_if_needed()
        toggles.last.click()
        second = summaries.last
        expect(second.get_by_test_id("turn-change-status")).to_have_text("modified")
        diff = second.get_by_test_id("turn-change-diff")
        expect(diff).to_contain_text("-beta")
        expect(diff).to_contain_text("+gamma")
        expect(diff.locator(".diff-add")).to_have_text(["+gamma"])
        shoot(page, "turn-changes")

        toggles.first.click()  # closes again
        expect(first.get_by_test_id("turn-changes-list")).to_have_count(0)
    finally:
        context.close()
