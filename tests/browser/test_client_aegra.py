"""The web client on Aegra (PostgreSQL): the same page, the same flows as on `langgraph dev`.

Aegra refuses the thread list's projection, has no `/ok`, and answers errors in
its own shape; the client handles both servers. These are the flows that touch
those differences: the main two-approval flow (thread list and title, files),
live terminal output, re-joining a run after a reload, and the thread list's order,
statuses and rename (Aegra's own thread search and PATCH).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import browser_flows as flows
from tests.support import thread_flows as threads
from tests.support.aegra_server import run_aegra
from tests.support.browser_flows import DESKTOP
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def aegra_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    return make_e2e_paths(tmp_path_factory.mktemp("browser-aegra"))


@pytest.fixture(scope="module")
def aegra(scripted_llm: ScriptedLLM, aegra_paths: E2EPaths, sandbox_image: str) -> Iterator[LangGraphServer]:
    """A single-user Aegra serving the project: the client opens without sign-in."""
    try:
        with run_aegra(workdir=aegra_paths.server_home, env=server_env(scripted_llm, aegra_paths, sandbox_image), workers=1) as running:
            yield running
    finally:
        remove_workspaces_under(aegra_paths.workspaces, aegra_paths.memories)


def test_hello_world_with_two_approvals_on_aegra(
    page: Page, aegra: LangGraphServer, scripted_llm: ScriptedLLM, aegra_paths: E2EPaths, shoot, tmp_path: Path
) -> None:
    page.goto(f"{aegra.url}/app/")
    expect(page.get_by_test_id("sign-out")).to_have_count(0)
    flows.hello_world_flow(page, scripted_llm, aegra_paths, shoot, tmp_path)
    # A second page load lists the thread, titled, from Aegra's thread search.
    page.reload()
    expect(page.get_by_test_id("thread-item").first).to_contain_text("创建一个hello.py文件")


def test_the_terminal_shows_output_while_the_command_runs_on_aegra(
    page: Page, aegra: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    flows.the_terminal_shows_output_while_the_command_runs(page, aegra, scripted_llm, shoot)


def test_reload_rejoins_a_running_command_on_aegra(page: Page, aegra: LangGraphServer, scripted_llm: ScriptedLLM) -> None:
    flows.reload_rejoins_a_running_command(page, aegra, scripted_llm)


def test_threads_follow_last_activity_and_show_their_status_on_aegra(
    page: Page, aegra: LangGraphServer, scripted_llm: ScriptedLLM, shoot
) -> None:
    threads.threads_follow_last_activity_and_show_their_status(page, aegra, scripted_llm, shoot)


def test_rename_and_search_threads_on_aegra(browser: Browser, aegra: LangGraphServer, shoot) -> None:
    threads.rename_and_search_threads(browser, aegra, DESKTOP, shoot)
