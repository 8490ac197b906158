"""Fixtures for the web client's browser tests: a real `langgraph dev`, the scripted LLM, headless Chromium.

The browser is Debian's `chromium` (`/usr/bin/chromium`, or `CHROMIUM_PATH`),
driven by Playwright for Python through `executable_path`: Playwright's own
browser download is never used. Screenshots of the main states are written to
`tests/browser/artifacts/` (ignored by git), so a failed run can be looked at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.auth_keys import AuthKeys
from tests.support.browser_flows import DESKTOP, chromium_path
from tests.support.e2e_servers import AuthServer, make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.mcp_servers import http_server, notes_app, servers_file
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as llm:
        yield llm


@pytest.fixture(scope="session")
def browser_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    return make_e2e_paths(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="session")
def server(scripted_llm: ScriptedLLM, browser_paths: E2EPaths, sandbox_image: str) -> Iterator[LangGraphServer]:
    """A single-user `langgraph dev` (no `AUTH_*`): the client opens without sign-in; its workspaces are removed at the end.

    It lists one MCP server, `notes` (streamable HTTP, in this process), so the client shows MCP calls.
    """
    listing = browser_paths.server_home / "mcp.json"
    try:
        with http_server(notes_app()) as notes_url:
            servers_file(listing, {"notes": {"url": notes_url, "transport": "streamable_http"}})
            env = server_env(scripted_llm, browser_paths, sandbox_image, MCP_SERVERS_FILE=str(listing))
            with run_langgraph_dev(workdir=browser_paths.server_home, env=env) as running:
                yield running
    finally:
        remove_workspaces_under(browser_paths.workspaces, browser_paths.memories)


@pytest.fixture(scope="session")
def auth_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    """A `langgraph dev` that requires bearer tokens: the client asks for one."""
    paths = make_e2e_paths(tmp_path_factory.mktemp("browser-auth"))
    keys = AuthKeys(jwks_file=paths.server_home / "jwks.json")
    try:
        with run_langgraph_dev(workdir=paths.server_home, env=server_env(scripted_llm, paths, sandbox_image, **keys.env())) as running:
            yield AuthServer(server=running, keys=keys, paths=paths)
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module.

    Playwright's sync API keeps an event loop running while it is started, which
    would stop pytest-asyncio from running the async tests collected after this
    folder; module scope stops it as soon as the browser tests are done.
    """
    path = chromium_path()
    if path is None:
        if os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail("chromium not installed (apt-get install chromium); CI must not skip browser tests")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    ctx.set_default_timeout(60_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shoot(request: pytest.FixtureRequest):
    """`shoot(page, "name")` saves a full-page screenshot under tests/browser/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Page, name: str) -> Path:
        target = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(target))
        return target

    return take
