# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""What a person does in the web client, as steps the browser tests share across servers.

`tests/browser/test_client.py` runs these against `langgraph dev`, `test_client_aegra.py`
against Aegra, `test_multi_user.py` with sign-in; they live here so no test module imports another.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.support.e2e_servers import AuthServer
from tests.support.hello_flow import HELLO_COMMAND, HELLO_PROMPT, HELLO_SOURCE
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

__all__ = ["HELLO_COMMAND", "HELLO_PROMPT", "HELLO_SOURCE"]

type Shoot = Callable[[Page, str], Path]
"""The browser conftest's `shoot(page, name)`: saves a screenshot for a person to look at."""

LONG = 90_000
"""Milliseconds to wait for a run step: the machine is shared and each step is a queued run."""
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    """Debian's Chromium (`CHROMIUM_PATH` overrides)."""
    explicit = os.environ.get("CHROMIUM_PATH", "").strip()
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def sign_in(page: Page, auth_server: AuthServer, token: str) -> None:
    page.goto(f"{auth_server.url}/app/")
    page.get_by_test_id("token-input").locator("input").fill(token)
    page.get_by_test_id("sign-in").click()


def model_breaks(messages: list[dict[str, object]]) -> str:
    """A scripted model turn that fails, as an unreachable or broken endpoint would."""
    raise RuntimeError("the scripted model fails on purpose")


def composer(page: Page) -> Locator:
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


def hello_world_flow(page: Page, scripted_llm: ScriptedLLM, paths: E2EPaths, shoot: Shoot, tmp_path: Path) -> str:
    """A person's first task, from an open client to a downloaded hello.py; returns the thread id."""
    scripted_llm.add_scenario(
        HELLO_PROMPT,
        call("write_file", file_path="/workspace/hello.py", content=HELLO_SOURCE),
        call("execute", command=HELLO_COMMAND),
        say(echo_last_tool_output("执行结果：")),
    )
    send(page, HELLO_PROMPT)

    # write_file waits for approval; the card shows the new file.
    card = page.get_by_test_id("approval-card")
    expect(card).to_be_visible(timeout=LONG)
    expect(card.get_by_test_id("approval-item")).to_have_attribute("data-tool", "write_file")
    expect(card).to_contain_text("hello.py")
    expect(card).to_contain_text("Hello World")
    thread_id = current_thread_id(page)
    assert not (paths.workspace(thread_id) / "hello.py").exists()
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
    wait_idle(page)
    expect(page.get_by_test_id("approval-card")).to_have_count(0)

    # The thread is listed, titled from its first message.
    expect(page.get_by_test_id("thread-item").first).to_contain_text("创建一个hello.py文件")

    # hello.py is in the workspace panel and downloads with its content.
    panel = page.get_by_test_id("workspace-panel")
    expect(panel.get_by_test_id("file-hello.py")).to_be_visible(timeout=LONG)
    shoot(page, "3-answer-and-workspace")
    with page.expect_download() as download_info:
        panel.get_by_test_id("download-hello.py").click()
    download = download_info.value
    assert download.suggested_filename == "hello.py"
    saved = tmp_path / "hello.py"
    download.save_as(saved)
    assert saved.read_text(encoding="utf-8") == HELLO_SOURCE
    return thread_id


def approval_items(page: Page) -> Locator:
    return page.get_by_test_id("approval-card").get_by_test_id("approval-item")


def wait_idle(page: Page) -> None:
    expect(page.get_by_test_id("working")).to_have_count(0, timeout=LONG)


def approve_pending(page: Page, tool: str) -> None:
    """Wait until `tool` waits for approval, then approve it with the mouse."""
    expect(approval_items(page)).to_have_attribute("data-tool", tool, timeout=LONG)
    approval_items(page).get_by_test_id("decision-approve").click()


def answer_pending(page: Page, tool: str, decision: str, message: str) -> None:
    """Wait until `tool` waits for approval, then reject or respond to it with `message`, by mouse and keyboard."""
    item = approval_items(page)
    expect(item).to_have_attribute("data-tool", tool, timeout=LONG)
    item.get_by_test_id(f"decision-{decision}").click()
    item.get_by_test_id("decision-message").locator("textarea:not([aria-hidden])").fill(message)
    page.get_by_test_id("submit-decisions").click()


def reload_rejoins_a_running_command(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM) -> None:
    """A reload while an approved command runs: the client re-joins the run and shows its answer."""
    prompt = "运行一个慢命令然后刷新"
    command = "sleep 6; echo slow-done"
    scripted_llm.add_scenario(prompt, call("execute", command=command), say(echo_last_tool_output("慢命令：")))
    open_client(page, server)
    send(page, prompt)
    expect(approval_items(page)).to_have_attribute("data-tool", "execute", timeout=LONG)
    approval_items(page).get_by_test_id("decision-approve").click()
    expect(page.get_by_test_id("approval-card")).to_have_count(0)
    page.reload()
    # Back on the page while the command still runs: the client re-joins the run by itself,
    # and its answer arrives without any further action.
    expect(page.get_by_test_id("working")).to_be_visible(timeout=LONG)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("slow-done", timeout=LONG)
    wait_idle(page)


def the_terminal_shows_output_while_the_command_runs(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot: Shoot) -> None:
    """An approved command's lines appear in the terminal while it still runs, then its result."""
    prompt = "运行一个逐行输出的命令"
    command = "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done"
    scripted_llm.add_scenario(prompt, call("execute", command=command), say(echo_last_tool_output("逐行：")))
    open_client(page, server)
    send(page, prompt)
    expect(approval_items(page)).to_have_attribute("data-tool", "execute", timeout=LONG)
    approval_items(page).get_by_test_id("decision-approve").click()
    live = page.get_by_test_id("terminal-live")
    expect(live).to_contain_text("tick-1", timeout=LONG)
    # The first lines are on screen while the command is still running.
    expect(page.get_by_test_id("terminal-result")).to_have_count(0)
    shoot(page, "live-terminal")
    expect(page.get_by_test_id("terminal-result")).to_contain_text("tick-6", timeout=LONG)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("逐行：", timeout=LONG)
