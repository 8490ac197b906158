# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""The web client in a real browser against a real `langgraph dev` with the scripted LLM."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser_flows import (
    LONG,
    answer_pending,
    approval_items,
    approve_pending,
    composer,
    current_thread_id,
    hello_world_flow,
    model_breaks,
    open_client,
    reload_rejoins_a_running_command,
    send,
    the_terminal_shows_output_while_the_command_runs,
    wait_idle,
)
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, calls, echo_last_tool_output, say
from tests.support.tcp_proxy import CuttableProxy

pytestmark = [pytest.mark.docker]


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
    open_client(page, server)
    expect(page.get_by_test_id("sign-out")).to_have_count(0)  # single-user mode: nobody signs in
    hello_world_flow(page, scripted_llm, browser_paths, shoot, tmp_path)


def test_reject_with_a_message(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, browser_paths: E2EPaths) -> None:
    prompt = "写一个reject-me.txt文件"
    scripted_llm.add_scenario(
        prompt, call("write_file", file_path="/workspace/reject-me.txt", content="x\n"), say(echo_last_tool_output("结果："))
    )
    open_client(page, server)
    send(page, prompt)
    answer_pending(page, "write_file", "reject", "不要创建这个文件")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("不要创建这个文件", timeout=LONG)
    wait_idle(page)
    assert not (browser_paths.workspace(current_thread_id(page)) / "reject-me.txt").exists()


def test_edit_the_command_before_it_runs(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "运行一个需要修改的命令"
    scripted_llm.add_scenario(prompt, call("execute", command="echo original-command"), say(echo_last_tool_output("输出：")))
    open_client(page, server)
    send(page, prompt)
    item = approval_items(page)
    expect(item).to_have_attribute("data-tool", "execute", timeout=LONG)
    item.get_by_test_id("decision-edit").click()
    field = item.get_by_test_id("edit-arg-command").locator("textarea:not([aria-hidden])")
    expect(field).to_have_value("echo original-command")
    field.fill("echo edited-$((6*7))")
    shoot(page, "edit")
    page.get_by_test_id("submit-decisions").click()
    expect(page.get_by_test_id("terminal")).to_contain_text("edited-42", timeout=LONG)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("edited-42", timeout=LONG)
    expect(page.get_by_test_id("terminal-result")).not_to_contain_text("original-command")  # only the edited command ran
    wait_idle(page)
    # The transcript shows what ran: the edited command, its own output, marked as edited.
    for _ in range(2):  # as streamed, and as re-read from the thread after a reload
        terminal = page.get_by_test_id("terminal")
        expect(terminal).to_have_count(1, timeout=LONG)
        expect(terminal.get_by_test_id("terminal-command")).to_have_text("$ echo edited-$((6*7))")
        expect(terminal).not_to_contain_text("original-command")
        expect(terminal).not_to_contain_text("human reviewer")  # the note for the model is not command output
        expect(terminal.get_by_test_id("terminal-result")).to_contain_text(re.compile(r"^edited-42\s"))
        expect(terminal.get_by_test_id("edited-mark")).to_be_visible()
        page.reload()


def test_several_calls_in_one_turn_are_decided_together(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, browser_paths: E2EPaths, shoot
) -> None:
    prompt = "同时写两个文件"
    scripted_llm.add_scenario(
        prompt,
        calls(
            ("write_file", {"file_path": "/workspace/keep.txt", "content": "keep\n"}),
            ("write_file", {"file_path": "/workspace/skip.txt", "content": "skip\n"}),
        ),
        say("两个决定都已处理"),
    )
    open_client(page, server)
    send(page, prompt)
    items = approval_items(page)
    expect(items).to_have_count(2, timeout=LONG)
    expect(items.nth(0)).to_contain_text("keep.txt")
    expect(items.nth(1)).to_contain_text("skip.txt")
    items.nth(0).get_by_test_id("decision-approve").click()
    expect(page.get_by_test_id("submit-decisions")).to_be_disabled()  # one call is still undecided
    items.nth(1).get_by_test_id("decision-respond").click()
    items.nth(1).get_by_test_id("decision-message").locator("textarea:not([aria-hidden])").fill("已经有这个文件了")
    shoot(page, "two-calls")
    page.get_by_test_id("submit-decisions").click()
    expect(page.get_by_test_id("ai-message").last).to_contain_text("两个决定都已处理", timeout=LONG)
    wait_idle(page)
    workspace = browser_paths.workspace(current_thread_id(page))
    assert (workspace / "keep.txt").read_text(encoding="utf-8") == "keep\n"
    assert not (workspace / "skip.txt").exists()


def test_an_uploaded_file_is_read_by_the_agent(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, tmp_path: Path) -> None:
    prompt = "读一下我上传的notes.txt"
    scripted_llm.add_scenario(prompt, call("read_file", file_path="/workspace/notes.txt"), say(echo_last_tool_output("文件内容：")))
    source = tmp_path / "notes.txt"
    source.write_text("上传的内容 42\n", encoding="utf-8")
    open_client(page, server)
    page.get_by_test_id("upload-input").set_input_files(str(source))
    expect(page.get_by_test_id("workspace-panel").get_by_test_id("file-notes.txt")).to_be_visible(timeout=LONG)
    send(page, prompt)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("上传的内容 42", timeout=LONG)
    # The thread that holds the upload is the one the message went to.
    expect(page.get_by_test_id("thread-item").filter(has_text=prompt)).to_have_count(1)


def test_reload_brings_back_a_pending_approval(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, browser_paths: E2EPaths, shoot
) -> None:
    prompt = "写一个reload.txt然后刷新页面"
    scripted_llm.add_scenario(prompt, call("write_file", file_path="/workspace/reload.txt", content="after reload\n"), say("写好了"))
    open_client(page, server)
    send(page, prompt)
    expect(approval_items(page)).to_have_attribute("data-tool", "write_file", timeout=LONG)
    wait_idle(page)
    thread_id = current_thread_id(page)
    page.reload()
    item = approval_items(page)
    expect(item).to_have_attribute("data-tool", "write_file", timeout=LONG)
    expect(item).to_contain_text("reload.txt")
    expect(page.get_by_test_id("human-message")).to_contain_text(prompt)
    assert current_thread_id(page) == thread_id
    shoot(page, "after-reload")
    item.get_by_test_id("decision-approve").click()
    expect(page.get_by_test_id("ai-message").last).to_contain_text("写好了", timeout=LONG)
    assert (browser_paths.workspace(thread_id) / "reload.txt").read_text(encoding="utf-8") == "after reload\n"


def test_english_at_phone_width_and_by_keyboard(browser, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "phone-width keyboard prompt"
    scripted_llm.add_scenario(
        prompt, call("write_file", file_path="/workspace/phone.txt", content="from a phone\n"), say("Written from the phone.")
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, server)
        expect(page.get_by_test_id("messages")).to_contain_text("Ask the agent")
        expect(page.get_by_role("button", name="Conversations")).to_be_visible()  # phone width: the list is behind a menu
        # Keyboard only: type, Enter to send, Tab to the approval's first decision, Enter to approve.
        composer(page).focus()
        page.keyboard.type(prompt)
        page.keyboard.press("Enter")
        card = page.get_by_test_id("approval-card")
        expect(card).to_contain_text("Approval needed", timeout=LONG)
        shoot(page, "phone-approval")
        approve = card.get_by_test_id("decision-approve")
        for _ in range(40):
            if approve.evaluate("el => el === document.activeElement"):
                break
            page.keyboard.press("Tab")
        else:
            pytest.fail("the approve button is not reachable with Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("ai-message").last).to_contain_text("Written from the phone.", timeout=LONG)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
        shoot(page, "phone-answer")
    finally:
        context.close()


def test_reload_rejoins_a_running_command(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM) -> None:
    reload_rejoins_a_running_command(page, server, scripted_llm)


def test_a_failed_run_is_shown(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "这一轮模型会出错"
    scripted_llm.add_scenario(prompt, say(model_breaks))
    open_client(page, server)
    send(page, prompt)
    error = page.get_by_test_id("run-error")
    expect(error).to_be_visible(timeout=LONG)
    expect(error).to_contain_text("运行失败")
    wait_idle(page)
    shoot(page, "failed-run")
    # The conversation stays usable: the next message gets an answer.
    send(page, "你好")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("脚本化模型的默认回复", timeout=LONG)
    expect(page.get_by_test_id("run-error")).to_have_count(0)


def test_a_lost_connection_is_shown_and_the_run_rejoined(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "运行一个命令，期间断网"
    scripted_llm.add_scenario(prompt, call("execute", command="sleep 8; echo back-online"), say(echo_last_tool_output("断网之后：")))
    port = int(server.url.rsplit(":", 1)[1])
    with CuttableProxy(("127.0.0.1", port)) as proxy:
        page.goto(f"http://127.0.0.1:{proxy.port}/app/")
        send(page, prompt)
        expect(approval_items(page)).to_have_attribute("data-tool", "execute", timeout=LONG)
        approval_items(page).get_by_test_id("decision-approve").click()
        expect(page.get_by_test_id("working")).to_be_visible()
        page.wait_for_timeout(1500)  # the run's stream is open
        assert proxy.cut() > 0
        expect(page.get_by_test_id("connection-lost")).to_be_visible(timeout=LONG)
        shoot(page, "connection-lost")
        # The client re-joins the same run through new connections and gets its answer.
        expect(page.get_by_test_id("ai-message").last).to_contain_text("back-online", timeout=LONG)
        expect(page.get_by_test_id("connection-lost")).to_have_count(0, timeout=LONG)
        wait_idle(page)


def test_new_and_delete_conversations(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM) -> None:
    first, second = "第一个要删除的对话", "第二个保留的对话"
    open_client(page, server)
    send(page, first)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    doomed = current_thread_id(page)
    page.get_by_test_id("new-thread").click()
    expect(page.get_by_test_id("human-message")).to_have_count(0)
    send(page, second)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    kept = current_thread_id(page)
    assert kept != doomed
    items = page.get_by_test_id("thread-item")
    expect(items.first).to_contain_text(second)  # newest first
    expect(items.nth(1)).to_contain_text(first)

    items.filter(has_text=first).get_by_test_id("delete-thread").click()
    page.get_by_test_id("confirm-delete").click()
    expect(page.get_by_test_id("thread-item").filter(has_text=first)).to_have_count(0, timeout=LONG)
    expect(page.get_by_test_id("thread-item").filter(has_text=second)).to_have_count(1)
    assert httpx.get(f"{server.url}/threads/{doomed}").status_code == 404
    assert current_thread_id(page) == kept  # deleting another thread leaves the open one alone


def test_the_terminal_shows_output_while_the_command_runs(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    the_terminal_shows_output_while_the_command_runs(page, server, scripted_llm, shoot)


def test_stop_by_mouse_ends_the_run_and_marks_it_stopped(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "运行一个要被停止的命令"
    scripted_llm.add_scenario(prompt, call("execute", command="sleep 60; echo never-printed"), say("不应出现"))
    open_client(page, server)
    send(page, prompt)
    approve_pending(page, "execute")
    expect(page.get_by_test_id("working")).to_be_visible(timeout=LONG)
    page.wait_for_timeout(1000)  # the command is running in the sandbox
    page.get_by_test_id("stop").click()  # a real mouse click, with Playwright's actionability checks
    expect(page.get_by_test_id("working")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("run-stopped")).to_be_visible()
    expect(page.get_by_test_id("send")).to_be_visible()
    shoot(page, "stopped")
    # The mark is the server's record of the run, not only this page's memory.
    page.reload()
    expect(page.get_by_test_id("run-stopped")).to_be_visible(timeout=LONG)
    expect(page.get_by_test_id("ai-message").filter(has_text="不应出现")).to_have_count(0)


def test_ten_sends_by_mouse_all_send(page: Page, server: LangGraphServer) -> None:
    open_client(page, server)
    for index in range(10):
        composer(page).click()
        page.keyboard.type(f"mouse send {index}")
        page.get_by_test_id("send").click()
        expect(page.get_by_test_id("human-message")).to_have_count(index + 1, timeout=LONG)
        expect(page.get_by_test_id("ai-message")).to_have_count(index + 1, timeout=LONG)
        wait_idle(page)
    expect(page.get_by_test_id("human-message").last).to_contain_text("mouse send 9")


def test_shift_enter_makes_a_newline_and_enter_sends(page: Page, server: LangGraphServer) -> None:
    open_client(page, server)
    composer(page).click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(composer(page)).to_have_value("first line\nsecond line")
    expect(page.get_by_test_id("human-message")).to_have_count(0)
    page.keyboard.press("Enter")
    message = page.get_by_test_id("human-message")
    expect(message).to_have_count(1, timeout=LONG)
    assert message.inner_text().splitlines() == ["first line", "second line"]
    expect(composer(page)).to_have_value("")


def test_on_a_phone_enter_makes_a_newline_and_send_is_tapped(browser, server: LangGraphServer, shoot) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", has_touch=True, is_mobile=True)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        open_client(page, server)
        composer(page).tap()
        page.keyboard.type("phone line one")
        page.keyboard.press("Enter")
        page.keyboard.type("phone line two")
        expect(composer(page)).to_have_value("phone line one\nphone line two")
        expect(page.get_by_test_id("human-message")).to_have_count(0)
        shoot(page, "phone-multiline")
        page.get_by_test_id("send").tap()
        message = page.get_by_test_id("human-message")
        expect(message).to_have_count(1, timeout=LONG)
        assert message.inner_text().splitlines() == ["phone line one", "phone line two"]
        expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    finally:
        context.close()


def test_a_failed_run_keeps_its_specific_error_after_reload(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "这一轮模型端点断开连接"
    scripted_llm.add_scenario(prompt, say(model_breaks))  # the endpoint drops every connection without an answer
    open_client(page, server)
    send(page, prompt)
    error = page.get_by_test_id("run-error")
    # The kind of failure in the reader's language (a Chinese browser here), the cause in the HTTP client's words.
    expect(error).to_contain_text("无法连接模型端点：", timeout=LONG)
    expect(error).to_contain_text("without sending a response")
    expect(error).not_to_contain_text("internal error")
    expect(error).not_to_contain_text("model endpoint")
    wait_idle(page)
    page.reload()
    expect(page.get_by_test_id("human-message")).to_contain_text(prompt, timeout=LONG)
    expect(error).to_contain_text("无法连接模型端点：", timeout=LONG)
    expect(error).to_contain_text("without sending a response")
    shoot(page, "failed-run-after-reload")


def test_a_respond_answer_is_not_drawn_as_terminal_output(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM) -> None:
    prompt = "运行一个由我代为回答的命令"
    scripted_llm.add_scenario(prompt, call("execute", command="echo never-run"), say(echo_last_tool_output("代答：")))
    open_client(page, server)
    send(page, prompt)
    answer_pending(page, "execute", "respond", "我已经手动运行过了：42")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("代答：", timeout=LONG)
    wait_idle(page)
    expect(page.get_by_test_id("terminal")).to_have_count(0)  # nothing ran in a terminal
    answer = page.get_by_test_id("decision-answer")
    expect(answer).to_have_attribute("data-decision", "respond")
    expect(answer).to_contain_text("我已经手动运行过了：42")
    expect(answer).to_contain_text("echo never-run")


RICH_ANSWER = (
    "| 名称 | 值 |\n|---|---|\n| alpha | 1 |\n\n> 一段引用\n\n- [x] 已完成的事\n- [ ] 未完成的事\n\n```python\nprint('copy me')\n```\n"
)


def test_tables_quotes_task_lists_and_copy_buttons(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    prompt = "展示表格、引用、任务列表和代码"
    scripted_llm.add_scenario(prompt, say(RICH_ANSWER))
    open_client(page, server)
    send(page, prompt)
    answer = page.get_by_test_id("ai-message").last
    expect(answer.locator("table")).to_be_visible(timeout=LONG)
    wait_idle(page)
    cell = answer.locator("td").first
    assert cell.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
    assert float(cell.evaluate("el => parseFloat(getComputedStyle(el).paddingLeft)")) >= 4
    quote = answer.locator("blockquote")
    assert quote.evaluate("el => getComputedStyle(el).borderLeftStyle") == "solid"
    tasks = answer.locator("li.task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_have_attribute("data-checked", "true")
    expect(tasks.nth(1)).to_have_attribute("data-checked", "false")
    expect(tasks.nth(0).get_by_role("checkbox")).to_be_checked()
    expect(tasks.nth(1).get_by_role("checkbox")).not_to_be_checked()
    shoot(page, "rich-answer")

    answer.locator("pre").hover()
    answer.get_by_test_id("copy-code").click()
    assert page.evaluate("navigator.clipboard.readText()").rstrip("\n") == "print('copy me')"
    answer.get_by_test_id("copy-message").click()
    assert page.evaluate("navigator.clipboard.readText()").rstrip("\n") == RICH_ANSWER.rstrip("\n")


def _distance_from_bottom(page: Page) -> float:
    return float(page.get_by_test_id("chat-scroll").evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight"))


def test_scrolling_up_during_a_stream_stays_put_until_jump_to_latest(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM
) -> None:
    long_prompt, slow_prompt = "先给我一个很长的回答", "然后运行一个持续输出的命令"
    scripted_llm.add_scenario(long_prompt, say("\n\n".join(f"第 {i} 段内容" for i in range(80))))
    command = "for i in $(seq 1 20); do echo tick-$i; sleep 0.5; done"
    scripted_llm.add_scenario(slow_prompt, call("execute", command=command), say(echo_last_tool_output("持续输出：")))
    open_client(page, server)
    send(page, long_prompt)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("第 79 段内容", timeout=LONG)
    wait_idle(page)
    send(page, slow_prompt)
    approve_pending(page, "execute")
    live = page.get_by_test_id("terminal-live")
    expect(live).to_contain_text("tick-2", timeout=LONG)

    box = page.get_by_test_id("chat-scroll").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 60)
    page.mouse.wheel(0, -1500)  # the reader scrolls back up while output streams in
    page.wait_for_timeout(500)
    read_at = page.get_by_test_id("chat-scroll").evaluate("el => el.scrollTop")
    assert _distance_from_bottom(page) > 500
    expect(live).to_contain_text("tick-6", timeout=LONG)
    assert abs(page.get_by_test_id("chat-scroll").evaluate("el => el.scrollTop") - read_at) < 5, "the view jumped"

    page.get_by_test_id("jump-to-latest").click()
    at_bottom = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 5"
    page.wait_for_function(f"() => ({at_bottom})(document.querySelector('[data-testid=chat-scroll]'))")
    expect(page.get_by_test_id("jump-to-latest")).to_have_count(0)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("持续输出：", timeout=LONG)
    page.wait_for_timeout(300)
    assert _distance_from_bottom(page) < 5  # following the latest again


def test_an_approved_file_change_keeps_its_diff_in_the_transcript(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    prompt = "写一个diff.txt，然后改一行"
    scripted_llm.add_scenario(
        prompt,
        call("write_file", file_path="/workspace/diff.txt", content="one\ntwo\n"),
        call("edit_file", file_path="/workspace/diff.txt", old_string="two", new_string="deux"),
        say("改好了"),
    )
    open_client(page, server)
    send(page, prompt)
    for tool in ("write_file", "edit_file"):
        approve_pending(page, tool)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("改好了", timeout=LONG)
    wait_idle(page)
    for _ in range(2):  # as streamed, and as re-read after a reload
        diff = page.locator("[data-testid=tool-call][data-tool=edit_file]").get_by_test_id("file-diff")
        expect(diff).to_be_visible(timeout=LONG)
        expect(diff.locator(".diff-del")).to_have_text("-two")
        expect(diff.locator(".diff-add")).to_have_text("+deux")
        written = page.locator("[data-testid=tool-call][data-tool=write_file]").get_by_test_id("file-diff")
        expect(written.locator(".diff-add")).to_have_text(["+one", "+two"])
        shoot(page, "diff-kept")
        page.reload()


def test_a_todo_list_is_a_checklist_not_object_object(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    prompt = "先列一个计划"
    todos = [
        {"content": "写测试", "status": "completed"},
        {"content": "修复缺陷", "status": "in_progress"},
        {"content": "提交", "status": "pending"},
    ]
    scripted_llm.add_scenario(prompt, call("write_todos", todos=todos), say("计划已更新"))
    open_client(page, server)
    send(page, prompt)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("计划已更新", timeout=LONG)
    wait_idle(page)
    expect(page.get_by_test_id("approval-card")).to_have_count(0)  # planning changes only the graph's state: no approval
    for _ in range(2):  # as streamed, and as re-read after a reload
        items = page.get_by_test_id("todo-list").get_by_test_id("todo-item")
        expect(items).to_have_count(3, timeout=LONG)
        expect(items.nth(0)).to_have_attribute("data-status", "completed")
        expect(items.nth(1)).to_have_attribute("data-status", "in_progress")
        expect(items.nth(2)).to_contain_text("提交")
        expect(page.get_by_test_id("messages")).not_to_contain_text("[object Object]")
        expect(page.get_by_test_id("messages")).not_to_contain_text("not a valid tool")
        shoot(page, "todos")
        page.reload()
