"""Rewind to a past message, or fork from it into a new thread: the conversation and the files go back.

The thread is prepared through the SDK (turn 1 writes v1 with `write_file`, turn 2
turns it into v2 with `sed -i` through `execute`, both without approvals); then a
person opens it in the web client and clicks "rewind to here" on the second
message: the conversation shows what came before it, the message is back in the
box, and the workspace holds v1. "Fork" on the same message opens a new thread
with v1, while the original keeps v2.
"""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk import get_sync_client
from playwright.sync_api import Browser, Page, expect

from tests.support.agent_client import user_input
from tests.support.browser_flows import DESKTOP, LONG, composer, current_thread_id
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

PHONE = {"width": 390, "height": 844}


def two_turns(server: LangGraphServer, scripted_llm: ScriptedLLM, tag: str) -> str:
    """A thread whose turn 1 wrote v1 and turn 2 made it v2; returns its id (a sync client: playwright runs its own loop)."""
    path = f"/workspace/notes-{tag}.txt"
    scripted_llm.add_scenario(f"写入第一版 {tag}", call("write_file", file_path=path, content="v1\n"), say(f"写好了第一版 {tag}"))
    scripted_llm.add_scenario(f"改成第二版 {tag}", call("execute", command=f"sed -i s/v1/v2/ {path}"), say(f"改成了第二版 {tag}"))
    client = get_sync_client(url=server.url, timeout=(10.0, 180.0, 180.0, 180.0))
    try:
        assistant = client.assistants.create(graph_id="agent", context={"approval_tools": []}, name=f"rewind-{tag}")
        thread_id = str(client.threads.create()["thread_id"])
        for text in (f"写入第一版 {tag}", f"改成第二版 {tag}"):
            client.runs.wait(thread_id, assistant["assistant_id"], input=user_input(text))
    finally:
        client.close()
    return thread_id


def open_thread(page: Page, server: LangGraphServer, thread_id: str, tag: str) -> None:
    page.goto(f"{server.url}/app/#thread={thread_id}")
    page.reload()  # a change of the hash alone does not load the page again
    expect(page.get_by_test_id("human-message")).to_have_text([f"写入第一版 {tag}", f"改成第二版 {tag}"], timeout=LONG)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_rewind_and_fork_bring_the_files_back(
    browser: Browser, server: LangGraphServer, browser_paths: E2EPaths, scripted_llm: ScriptedLLM, viewport: dict[str, int], shoot
) -> None:
    tag = uuid.uuid4().hex[:8]
    thread_id = two_turns(server, scripted_llm, tag)
    notes = browser_paths.workspaces / thread_id / f"notes-{tag}.txt"
    assert notes.read_text() == "v2\n"
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_thread(page, server, thread_id, tag)

        # Fork from the second message: a new thread, back to before it, with v1; the original keeps v2.
        page.get_by_test_id("fork-message").last.click()
        expect(page).not_to_have_url(f"{server.url}/app/#thread={thread_id}", timeout=LONG)
        copy_id = current_thread_id(page)
        expect(page.get_by_test_id("human-message")).to_have_text([f"写入第一版 {tag}"], timeout=LONG)
        expect(composer(page)).to_have_value(f"改成第二版 {tag}")
        assert (browser_paths.workspaces / copy_id / f"notes-{tag}.txt").read_text() == "v1\n"
        assert notes.read_text() == "v2\n"
        shoot(page, "forked")

        # Rewind the original to the same place: its own files go back too.
        open_thread(page, server, thread_id, tag)
        page.get_by_test_id("rewind-message").last.click()
        expect(page.get_by_test_id("human-message")).to_have_text([f"写入第一版 {tag}"], timeout=LONG)
        expect(page.get_by_test_id("messages")).not_to_contain_text(f"改成了第二版 {tag}")
        expect(composer(page)).to_have_value(f"改成第二版 {tag}")
        assert notes.read_text() == "v1\n"
        shoot(page, "rewound")
    finally:
        context.close()
