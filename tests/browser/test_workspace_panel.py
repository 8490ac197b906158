# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""The workspace panel in a real browser: delete, rename, drop to upload, and what the last turn changed.

Desktop (the panel sits beside the chat) and phone (the panel is a drawer opened
from the app bar, every control tapped). Files are seeded through the server's
own file routes; what the panel does is checked on disk.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import LONG, approve_pending, send, wait_idle
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.docker]

PHONE = {"width": 390, "height": 844}


def seeded_thread(server: LangGraphServer, files: dict[str, bytes]) -> str:
    thread_id = httpx.post(f"{server.url}/threads", json={}).raise_for_status().json()["thread_id"]
    for name, data in files.items():
        httpx.put(f"{server.url}/files/{thread_id}/content", params={"path": f"/workspace/{name}"}, content=data).raise_for_status()
    return thread_id


def open_thread(page: Page, server: LangGraphServer, thread_id: str) -> None:
    page.goto(f"{server.url}/app/#thread={thread_id}")
    expect(page.get_by_test_id("files-path")).to_have_text("/workspace")


def panel(page: Page):
    return page.get_by_test_id("workspace-panel")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, locale="en-US", has_touch=True, is_mobile=True)
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_delete_asks_first_and_then_deletes(page: Page, server: LangGraphServer, browser_paths: E2EPaths, shoot) -> None:
    thread_id = seeded_thread(server, {"keep.txt": b"keep\n", "old.txt": b"old\n", "build/out.o": b"o"})
    workspace = browser_paths.workspace(thread_id)
    open_thread(page, server, thread_id)
    files = panel(page)
    expect(files.get_by_test_id("file-old.txt")).to_be_visible()

    # Cancel keeps the file.
    files.get_by_test_id("actions-old.txt").click()
    page.get_by_test_id("delete-old.txt").click()
    dialog = page.get_by_test_id("file-delete-dialog")
    expect(dialog).to_contain_text("old.txt")
    shoot(page, "confirm-delete")
    dialog.get_by_test_id("cancel-file-delete").click()
    expect(dialog).to_be_hidden()
    assert (workspace / "old.txt").exists()

    files.get_by_test_id("actions-old.txt").click()
    page.get_by_test_id("delete-old.txt").click()
    page.get_by_test_id("file-delete-dialog").get_by_test_id("confirm-file-delete").click()
    expect(files.get_by_test_id("file-old.txt")).to_have_count(0)
    assert not (workspace / "old.txt").exists()

    # A folder goes with everything in it, after a warning that says so.
    files.get_by_test_id("actions-build").click()
    page.get_by_test_id("delete-build").click()
    expect(page.get_by_test_id("file-delete-dialog")).to_contain_text("build")
    page.get_by_test_id("file-delete-dialog").get_by_test_id("confirm-file-delete").click()
    expect(files.get_by_test_id("file-build")).to_have_count(0)
    assert not (workspace / "build").exists()
    expect(files.get_by_test_id("file-keep.txt")).to_be_visible()


def test_rename_by_typing_a_new_name_and_a_taken_name_is_refused(page: Page, server: LangGraphServer, browser_paths: E2EPaths) -> None:
    thread_id = seeded_thread(server, {"draft.txt": b"draft\n", "taken.txt": b"taken\n"})
    workspace = browser_paths.workspace(thread_id)
    open_thread(page, server, thread_id)
    files = panel(page)

    files.get_by_test_id("actions-draft.txt").click()
    page.get_by_test_id("rename-draft.txt").click()
    field = page.get_by_test_id("rename-field").locator("input")
    expect(field).to_have_value("draft.txt")
    field.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("最终稿.txt")
    page.get_by_test_id("confirm-rename").click()
    expect(files.get_by_test_id("file-最终稿.txt")).to_be_visible()
    expect(files.get_by_test_id("file-draft.txt")).to_have_count(0)
    assert (workspace / "最终稿.txt").read_bytes() == b"draft\n"

    # Onto an existing name: the server's refusal is shown and both files stay as they were.
    files.get_by_test_id("actions-最终稿.txt").click()
    page.get_by_test_id("rename-最终稿.txt").click()
    page.get_by_test_id("rename-field").locator("input").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("taken.txt")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("notice")).to_contain_text("409")
    assert (workspace / "taken.txt").read_bytes() == b"taken\n"
    assert (workspace / "最终稿.txt").read_bytes() == b"draft\n"


DROP_FILES = """([name, text]) => {
    const transfer = new DataTransfer()
    transfer.items.add(new File([text], name, { type: 'text/plain' }))
    return transfer
}"""


def test_dropping_files_on_the_panel_uploads_them_into_the_folder_shown(
    page: Page, server: LangGraphServer, browser_paths: E2EPaths, shoot
) -> None:
    thread_id = seeded_thread(server, {"in/readme.txt": b"r\n"})
    open_thread(page, server, thread_id)
    files = panel(page)
    files.get_by_test_id("file-in").click()
    expect(page.get_by_test_id("files-path")).to_have_text("/workspace/in")

    transfer = page.evaluate_handle(DROP_FILES, ["拖进来.txt", "dropped 内容\n"])
    files.dispatch_event("dragenter", {"dataTransfer": transfer})
    files.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(page.get_by_test_id("drop-hint")).to_be_visible()
    shoot(page, "dragging")
    files.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.get_by_test_id("drop-hint")).to_be_hidden()
    expect(files.get_by_test_id("file-拖进来.txt")).to_be_visible(timeout=LONG)
    assert (browser_paths.workspace(thread_id) / "in" / "拖进来.txt").read_text(encoding="utf-8") == "dropped 内容\n"


def test_the_files_the_last_turn_changed_are_marked_and_show_their_diff(
    page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    prompt = "改一下 notes/plan.txt 和 other.txt"
    scripted_llm.add_scenario(
        prompt,
        call("write_file", file_path="/workspace/notes/plan.txt", content="one\ntwo\n"),
        call("edit_file", file_path="/workspace/notes/plan.txt", old_string="two", new_string="deux"),
        say("改好了"),
    )
    thread_id = seeded_thread(server, {"untouched.txt": b"same\n"})
    open_thread(page, server, thread_id)
    files = panel(page)
    expect(files.get_by_test_id("file-untouched.txt")).to_be_visible()
    send(page, prompt)
    for tool in ("write_file", "edit_file"):
        approve_pending(page, tool)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("改好了", timeout=LONG)
    wait_idle(page)

    # The folder holding the change is marked; inside it the file is, and its marker opens the diff.
    expect(files.get_by_test_id("changed-notes")).to_be_visible(timeout=LONG)
    expect(files.get_by_test_id("changed-untouched.txt")).to_have_count(0)
    files.get_by_test_id("file-notes").click()
    marker = files.get_by_test_id("changed-plan.txt")
    expect(marker).to_contain_text("+3")
    expect(marker).to_contain_text("−1")
    marker.click()
    diff = page.get_by_test_id("change-diff")
    expect(diff).to_contain_text("/workspace/notes/plan.txt")
    texts = diff.get_by_test_id("change-diff-text")
    expect(texts).to_have_count(2)
    expect(texts.nth(0).locator(".diff-add")).to_have_text(["+one", "+two"])
    expect(texts.nth(1).locator(".diff-del")).to_have_text("-two")
    expect(texts.nth(1).locator(".diff-add")).to_have_text("+deux")
    shoot(page, "change-diff")
    diff.get_by_test_id("change-diff-close").click()
    expect(diff).to_be_hidden()

    # After a reload the marks come back from the thread's state.
    page.reload()
    expect(panel(page).get_by_test_id("changed-notes")).to_be_visible(timeout=LONG)

    # A new turn that changes nothing clears them.
    scripted_llm.add_scenario("只聊天，不改文件", say("好的"))
    send(page, "只聊天，不改文件")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("好的", timeout=LONG)
    wait_idle(page)
    expect(panel(page).get_by_test_id("changed-notes")).to_have_count(0)


def test_on_a_phone_the_drawer_deletes_and_renames_by_taps(phone: Page, server: LangGraphServer, browser_paths: E2EPaths, shoot) -> None:
    thread_id = seeded_thread(server, {"a.txt": b"a\n", "b.txt": b"b\n"})
    workspace = browser_paths.workspace(thread_id)
    open_thread(phone, server, thread_id)
    files = panel(phone)
    expect(files).not_to_be_in_viewport()  # phone width: the panel is a drawer behind the app bar's folder button
    phone.get_by_test_id("toggle-workspace").tap()
    expect(files).to_be_in_viewport()
    expect(files.get_by_test_id("file-a.txt")).to_be_visible()

    files.get_by_test_id("actions-a.txt").tap()
    phone.get_by_test_id("rename-a.txt").tap()
    field = phone.get_by_test_id("rename-field").locator("input")
    field.tap()
    field.fill("")
    phone.keyboard.type("renamed.txt")
    phone.get_by_test_id("confirm-rename").tap()
    expect(files.get_by_test_id("file-renamed.txt")).to_be_visible()
    assert (workspace / "renamed.txt").read_bytes() == b"a\n"

    files.get_by_test_id("actions-b.txt").tap()
    phone.get_by_test_id("delete-b.txt").tap()
    shoot(phone, "phone-confirm-delete")
    phone.get_by_test_id("confirm-file-delete").tap()
    expect(files.get_by_test_id("file-b.txt")).to_have_count(0)
    assert not (workspace / "b.txt").exists()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width}px)"
