"""Fixtures for the web client's browser tests: a real `langgraph dev`, the scripted LLM, headless Chromium.

The browser is Debian's `chromium` (`/usr/bin/chromium`, or `CHROMIUM_PATH`),
driven by Playwright for Python through `executable_path`: Playwright's own
browser download is never used. Screenshots of the main states are written to
`tests/browser/artifacts/` (ignored by git), so a failed run can be looked at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}


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


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as llm:
        yield llm


@pytest.fixture(scope="session")
def browser_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    base = tmp_path_factory.mktemp("browser")
    paths = E2EPaths(workspaces=base / "workspaces", shared=base / "shared", server_home=base / "server", memories=base / "memories")
    for folder in (paths.workspaces, paths.shared, paths.server_home, paths.memories):
        folder.mkdir()
        folder.chmod(0o755)
    return paths


@pytest.fixture(scope="session")
def server(scripted_llm: ScriptedLLM, browser_paths: E2EPaths, sandbox_image: str) -> Iterator[LangGraphServer]:
    env = {
        "ZHIPUAI_API_KEY": "browser-test-key",
        "ZHIPUAI_API_BASE": scripted_llm.base_url,
        "LLM_MODEL": "glm-4.7",
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(browser_paths.workspaces),
        "SANDBOX_SHARED_DIR": str(browser_paths.shared),
        "SANDBOX_MEMORIES_DIR": str(browser_paths.memories),
        "SANDBOX_MODE": "ephemeral",
    }
    with run_langgraph_dev(workdir=browser_paths.server_home, env=env) as running:
        yield running


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
