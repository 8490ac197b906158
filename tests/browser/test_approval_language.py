# ruff: noqa: RUF001  (the Chinese texts use full-width punctuation)
"""Approvals are worded in the client's language, from the interrupt's structured details."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser_flows import DESKTOP, LONG, approval_items, open_client, send, wait_idle
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, calls, say

pytestmark = [pytest.mark.docker]

PATH = "/workspace/note.txt"

WORDING = {
    "zh-CN": {
        "write_file": ["写入文件 /workspace/note.txt：新文件，2 行"],
        "edit_file": ["编辑文件 /workspace/note.txt：1 处替换，+1 -1 行"],
        "execute": ["在沙箱中执行", "命令：cat /workspace/note.txt", "工作目录：/workspace", "秒（默认）"],
        "delete": ["删除 /workspace/note.txt：一个 8 字节的文件"],
        "english": ["new file", "replacement", "execute in the sandbox", "a file of"],
    },
    "en-US": {
        "write_file": ["write_file /workspace/note.txt: new file, 2 lines"],
        "edit_file": ["edit_file /workspace/note.txt: 1 replacement, +1 -1 lines"],
        "execute": ["execute in the sandbox", "command: cat /workspace/note.txt", "working directory: /workspace", "s (default)"],
        "delete": ["delete /workspace/note.txt: a file of 8 bytes"],
        "english": [],
    },
}


@pytest.mark.parametrize("locale", list(WORDING))
def test_each_approval_kind_is_described_in_the_clients_language(
    browser: Browser, server: LangGraphServer, scripted_llm: ScriptedLLM, locale: str, shoot
) -> None:
    words = WORDING[locale]
    prompt = f"write, edit, run and delete {uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(
        prompt,
        call("write_file", file_path=PATH, content="one\ntwo\n"),
        calls(
            ("edit_file", {"file_path": PATH, "old_string": "two", "new_string": "deux"}),
            ("execute", {"command": f"cat {PATH}"}),
            ("delete", {"file_path": PATH}),
        ),
        say("all decided"),
    )
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, server)
        send(page, prompt)

        items = approval_items(page)
        expect(items).to_have_attribute("data-tool", "write_file", timeout=LONG)
        for text in words["write_file"]:
            expect(items).to_contain_text(text)
        expect(items.locator(".diff-add")).to_have_text(["+one", "+two"])
        items.get_by_test_id("decision-approve").click()

        expect(items).to_have_count(3, timeout=LONG)
        for index, tool in enumerate(("edit_file", "execute", "delete")):
            expect(items.nth(index)).to_have_attribute("data-tool", tool)
            for text in words[tool]:
                expect(items.nth(index)).to_contain_text(text)
        expect(items.nth(0).locator(".diff-add")).to_have_text("+deux")
        for text in words["english"]:
            expect(page.get_by_test_id("approval-card")).not_to_contain_text(text)
        shoot(page, f"approvals-{locale}")

        for index in range(3):
            items.nth(index).get_by_test_id("decision-reject").click()
        page.get_by_test_id("submit-decisions").click()
        expect(page.get_by_test_id("ai-message").last).to_contain_text("all decided", timeout=LONG)
        wait_idle(page)
    finally:
        context.close()
