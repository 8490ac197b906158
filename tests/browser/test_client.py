# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""The web client in a real browser against a real `langgraph dev` with the scripted LLM."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

HELLO_PROMPT = "创建一个hello.py文件，输出'Hello World'"
HELLO_SOURCE = "print('Hello World')\n"
HELLO_COMMAND = "cd /workspace && python3 hello.py"
LONG = 90_000
"""Milliseconds to wait for a run step: the machine is shared and each step is a queued run."""


def composer(page: Page):
    return page.get_by_test_id("composer").locator("textarea:not([aria-hidden])")


def open_client(page: Page, server: LangGraphServer) -> None:
    page.goto(f"{server.url}/app/")
    expect(composer(page)).to_be_visible()


def send(page: Page, text: str) -> None:
    box = composer(page)
    box.fill(text)
    box.press("Enter")


def current_thread_id(page: Page) -> str:
    match = re.search(r"thread=([^&]+)", page.url)
    assert match, page.url
    return match.group(1)


def test_page_and_assets_are_public_with_a_strict_policy(server: LangGraphServer) -> None:
    with urllib.request.urlopen(f"{server.url}/app/") as response:
        html = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert '<div id="app">' in html
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    asset = re.search(r'src="(/app/assets/[^"]+\.js)"', html)
    assert asset, html
    with urllib.request.urlopen(f"{server.url}{asset.group(1)}") as response:
        assert response.status == 200
        assert "immutable" in response.headers["Cache-Control"]


def test_hello_world_with_two_approvals(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, browser_paths: E2EPaths, shoot, tmp_path: Path
) -> None:
    scripted_llm.add_scenario(
        HELLO_PROMPT,
        call("write_file", file_path="/workspace/hello.py", content=HELLO_SOURCE),
        call("execute", command=HELLO_COMMAND),
        say(echo_last_tool_output("执行结果：")),
    )
    open_client(page, server)
    send(page, HELLO_PROMPT)

    # write_file waits for approval; the card shows the new file.
    card = page.get_by_test_id("approval-card")
    expect(card).to_be_visible(timeout=LONG)
    expect(card.get_by_test_id("approval-item")).to_have_attribute("data-tool", "write_file")
    expect(card).to_contain_text("hello.py")
    expect(card).to_contain_text("Hello World")
    thread_id = current_thread_id(page)
    assert not (browser_paths.workspace(thread_id) / "hello.py").exists()
    shoot(page, "1-approve-write")
    card.get_by_test_id("decision-approve").click()

    # execute waits next.
    expect(card.get_by_test_id("approval-item")).to_have_attribute("data-tool", "execute", timeout=LONG)
    expect(card).to_contain_text("python3 hello.py")
    shoot(page, "2-approve-execute")
    card.get_by_test_id("decision-approve").click()

    # The terminal shows the output, then the answer does.
    terminal = page.get_by_test_id("terminal")
    expect(terminal).to_contain_text("Hello World", timeout=LONG)
    answer = page.get_by_test_id("ai-message").last
    expect(answer).to_contain_text("执行结果：", timeout=LONG)
    expect(answer).to_contain_text("Hello World")
    expect(page.get_by_test_id("working")).to_have_count(0, timeout=LONG)
    expect(page.get_by_test_id("approval-card")).to_have_count(0)

    # The thread is listed, titled from its first message.
    expect(page.get_by_test_id("thread-item").first).to_contain_text("创建一个hello.py文件")

    # hello.py is in the workspace panel and downloads with its content.
    panel = page.get_by_test_id("workspace-panel")
    entry = panel.get_by_test_id("file-hello.py")
    expect(entry).to_be_visible(timeout=LONG)
    shoot(page, "3-answer-and-workspace")
    with page.expect_download() as download_info:
        panel.get_by_test_id("download-hello.py").click()
    download = download_info.value
    assert download.suggested_filename == "hello.py"
    saved = tmp_path / "hello.py"
    download.save_as(saved)
    assert saved.read_text(encoding="utf-8") == HELLO_SOURCE
