"""Regenerate the web client's screenshots in docs/screenshots/ (desktop light and dark, phone).

    uv run python -m scripts.screenshots [--out DIR]

It runs what the browser tests run: a real `langgraph dev` with the scripted model
(tests/support/scripted_llm.py) and real Docker sandboxes, driven by Debian's Chromium
through Playwright, so the pictures show the client as it is built in ui/dist.
Needs Docker, the sandbox image (`SANDBOX_IMAGE`, default the offline one) and Chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.workspaces import remove_workspaces_under

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 120_000
PROMPT = "Create hello.py that prints 'Hello World', then run it"
SECOND_PROMPT = "What can you do?"
NAMES = ("desktop-light.png", "desktop-approval.png", "desktop-dark.png", "phone.png", "phone-threads.png")
"""The files written, in the order they are taken."""

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def chromium() -> str:
    """Debian's Chromium (`CHROMIUM_PATH` overrides); Playwright's own download is never used."""
    found = os.environ.get("CHROMIUM_PATH", "").strip() or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        msg = "chromium not found: apt-get install chromium, or set CHROMIUM_PATH"
        raise SystemExit(msg)
    return found


def composer(page: Page):  # noqa: ANN201 - a Playwright locator
    """The message box (Vuetify's auto-grow field has a hidden twin textarea)."""
    return page.get_by_test_id("composer").locator("textarea:not([aria-hidden])")


def send(page: Page, text: str) -> None:
    """Type a message and send it with Enter."""
    composer(page).fill(text)
    composer(page).press("Enter")


def wait_idle(page: Page) -> None:
    """Wait until the run has ended (the "working" line is gone)."""
    expect(page.get_by_test_id("working")).to_have_count(0, timeout=WAIT_MS)


def approve(page: Page, tool: str) -> None:
    """Wait until `tool` waits for approval, then approve it with a click."""
    item = page.get_by_test_id("approval-card").get_by_test_id("approval-item")
    expect(item).to_have_attribute("data-tool", tool, timeout=WAIT_MS)
    item.get_by_test_id("decision-approve").click()


def conversation(browser: Browser, url: str, out: Path) -> str:
    """Desktop, light: a short chat, then the hello.py flow with its approvals; returns that thread's URL."""
    context = browser.new_context(viewport=DESKTOP, locale="en-US", color_scheme="light")
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto(f"{url}/app/")
        send(page, SECOND_PROMPT)
        expect(page.get_by_test_id("ai-message").last).to_be_visible(timeout=WAIT_MS)
        wait_idle(page)
        page.get_by_test_id("new-thread").click()
        send(page, PROMPT)
        approve(page, "write_file")
        expect(page.get_by_test_id("approval-item")).to_have_attribute("data-tool", "execute", timeout=WAIT_MS)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "desktop-approval.png"))
        approve(page, "execute")
        expect(page.get_by_test_id("ai-message").last).to_contain_text("Hello World", timeout=WAIT_MS)
        wait_idle(page)
        expect(page.get_by_test_id("file-hello.py")).to_be_visible(timeout=WAIT_MS)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "desktop-light.png"))
        return page.url
    finally:
        context.close()


def revisit(browser: Browser, thread_url: str, out: Path) -> None:
    """The same thread in the dark theme, and at phone width (chat, then the thread list)."""
    for name, viewport, scheme in (("desktop-dark.png", DESKTOP, "dark"), ("phone.png", PHONE, "light")):
        context = browser.new_context(viewport=viewport, locale="en-US", color_scheme=scheme)
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.goto(thread_url)
            expect(page.get_by_test_id("ai-message").last).to_contain_text("Hello World", timeout=WAIT_MS)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / name))
            if viewport is PHONE:
                page.get_by_role("button", name="Conversations").click()
                expect(page.get_by_test_id("thread-item").first).to_be_in_viewport()
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / "phone-threads.png"))
        finally:
            context.close()


def take_screenshots(out: Path, *, sandbox_image: str) -> list[Path]:
    """Start the scripted model and a server, take every screenshot into `out`, stop both."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp, ScriptedLLM() as llm:
        llm.add_scenario(
            PROMPT,
            call("write_file", file_path="/workspace/hello.py", content="print('Hello World')\n"),
            call("execute", command="cd /workspace && python3 hello.py"),
            say(echo_last_tool_output("Done. The output of `python3 hello.py`: ")),
        )
        llm.add_scenario(
            SECOND_PROMPT, say("I write and run code in a private workspace. Commands and file writes wait for your approval.")
        )
        paths = make_e2e_paths(Path(tmp))
        try:
            with (
                run_langgraph_dev(workdir=paths.server_home, env=server_env(llm, paths, sandbox_image)) as server,
                sync_playwright() as playwright,
            ):
                browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                try:
                    thread_url = conversation(browser, server.url, out)
                    revisit(browser, thread_url, out)
                finally:
                    browser.close()
        finally:
            remove_workspaces_under(paths.workspaces, paths.memories)
    return [out / name for name in NAMES]


def main() -> None:
    """Write the screenshots (to docs/screenshots/ unless --out says otherwise) and list them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DOCS_DIR, help=f"where to write the PNGs (default {DOCS_DIR})")
    args = parser.parse_args()
    image = os.environ.get("SANDBOX_IMAGE", "").strip() or "deepagents-sandbox:offline"
    for path in take_screenshots(args.out, sandbox_image=image):
        print(path)


if __name__ == "__main__":
    main()
