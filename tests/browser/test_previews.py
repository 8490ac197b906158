"""The preview control opens an app from the sandbox in its own tab, where the app's script cannot reach the client's secrets.

Real Chromium, real clicks and typed keys, desktop and phone. A signed-in client
keeps its token in `localStorage`; the previewed page (served by a stdlib app in
the thread's session container) tries to read that storage, the origin's
cookies, and the API with the browser's credentials, and shows what it got.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from config.sandbox import SandboxSettings
from tests.support.browser_flows import DESKTOP, LONG, PHONE, composer, sign_in
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import LANGGRAPH_DEV
from tests.support.preview_apps import PROBE_APP, ThreadSandbox, thread_sandbox
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.docker]

USER = "preview-browser"
PORT = 8000


@pytest.fixture(scope="module")
def preview_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    with auth_server_with(LANGGRAPH_DEV, scripted_llm, tmp_path_factory, sandbox_image, SANDBOX_MODE="session") as server:
        yield server


@pytest.fixture(scope="module")
def thread_id(preview_server: AuthServer) -> str:
    headers = {"Authorization": f"Bearer {preview_server.keys.token(USER)}"}
    with httpx.Client(base_url=preview_server.url, headers=headers, timeout=60) as http:
        return str(http.post("/threads", json={"metadata": {"title": "preview"}}).raise_for_status().json()["thread_id"])


@pytest.fixture(scope="module")
def probe(preview_server: AuthServer, thread_id: str, sandbox_image: str) -> Iterator[ThreadSandbox]:
    paths = preview_server.paths
    settings = SandboxSettings(
        image=sandbox_image,
        workspaces_dir=paths.workspaces,
        shared_dir=paths.shared,
        memories_dir=paths.memories,
        audit_log=paths.server_home / "audit.jsonl",
    )
    with thread_sandbox(settings, thread_id, USER) as box:
        written = box.box.write("/workspace/probe.py", PROBE_APP)
        assert written.error is None, written.error
        box.start_detached(["python3", "/workspace/probe.py", str(PORT)])
        box.wait_listening(PORT)
        yield box


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_previewed_page_cannot_read_the_clients_storage_cookies_or_api(
    browser: Browser, preview_server: AuthServer, thread_id: str, probe: ThreadSandbox, viewport: ViewportSize
) -> None:
    context = browser.new_context(viewport=viewport, locale="en-US", has_touch=viewport == PHONE)
    try:
        context.set_default_timeout(60_000)
        context.add_cookies([{"name": "client_cookie", "value": "client-secret", "url": preview_server.url}])
        page = context.new_page()
        token = preview_server.keys.token(USER)
        sign_in(page, preview_server, token)
        expect(composer(page)).to_be_visible(timeout=LONG)
        page.goto(f"{preview_server.url}/app/#thread={thread_id}")
        page.reload()
        expect(composer(page)).to_be_visible(timeout=LONG)
        assert page.evaluate("localStorage.getItem('deepagent.token')") == token  # the secret is there to be taken

        if viewport == PHONE:
            page.get_by_test_id("toggle-workspace").tap()
        port = page.get_by_test_id("preview-port").locator("input")
        port.click()
        port.press("Control+a")
        port.press_sequentially(str(PORT))
        page.get_by_test_id("preview-make").click()
        opener = page.get_by_test_id("preview-open")
        expect(opener).to_be_visible(timeout=LONG)
        expect(opener).to_have_text(f"Open port {PORT} ↗")
        with context.expect_page() as opened:
            if viewport == PHONE:
                opener.tap()
            else:
                opener.click()
        preview = opened.value
        result = preview.locator("#result")
        expect(result).not_to_have_text("probing", timeout=LONG)
        found = json.loads(result.text_content() or "{}")
    finally:
        context.close()

    assert found["localStorage"].startswith("refused: SecurityError"), found
    assert found["cookie"].startswith("refused: SecurityError"), found
    assert found["origin"] == "null", found
    assert found["opener"] == "null", found
    assert not found["api"].startswith("read 200"), found
    assert token not in json.dumps(found)
    saw = found["appSaw"]
    assert isinstance(saw, dict), found  # the app's own relative fetch works from its opaque origin
    assert "cookie" not in saw, saw
    assert "authorization" not in saw, saw
    assert saw["host"] == f"localhost:{PORT}"
