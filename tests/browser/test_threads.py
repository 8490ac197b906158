"""The thread list in a real browser: last-activity order, status badges, rename and search."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import DESKTOP, LONG, PHONE, composer, sign_in, wait_idle
from tests.support.e2e_servers import AuthServer
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM
from tests.support.thread_flows import (
    item,
    new_conversation,
    rename,
    rename_and_search_threads,
    threads_follow_last_activity_and_show_their_status,
)

pytestmark = [pytest.mark.docker]


def test_threads_follow_last_activity_and_show_their_status(page: Page, server: LangGraphServer, scripted_llm: ScriptedLLM, shoot) -> None:
    threads_follow_last_activity_and_show_their_status(page, server, scripted_llm, shoot)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_rename_and_search_threads(browser: Browser, server: LangGraphServer, viewport: dict[str, int], shoot) -> None:
    rename_and_search_threads(browser, server, viewport, shoot)


def test_only_the_owner_renames_a_thread(page: Page, auth_server: AuthServer) -> None:
    sign_in(page, auth_server, auth_server.keys.token("frank"))
    expect(composer(page)).to_be_visible(timeout=LONG)
    thread_id = new_conversation(page, "frank 的对话")
    expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    wait_idle(page)
    rename(page, thread_id, "frank 改过的标题")
    expect(item(page, thread_id)).to_contain_text("frank 改过的标题")

    url = f"{auth_server.url}/threads/{thread_id}"
    as_grace = {"Authorization": f"Bearer {auth_server.keys.token('grace')}"}
    as_frank = {"Authorization": f"Bearer {auth_server.keys.token('frank')}"}
    stolen = httpx.patch(url, json={"metadata": {"title": "grace was here"}}, headers=as_grace)
    assert stolen.status_code == 404, stolen.text
    assert httpx.patch(url, json={"metadata": {"title": "nobody"}}).status_code in {401, 403}
    for bad in ({"metadata": "not an object"}, {"metadata": ["a", "list"]}, {"metadata": {"title": "x"}, "ttl": "soon"}):
        refused = httpx.patch(url, json=bad, headers=as_frank)
        assert 400 <= refused.status_code < 500, (bad, refused.status_code, refused.text)
    mine = httpx.get(url, headers=as_frank).raise_for_status().json()
    assert mine["metadata"]["title"] == "frank 改过的标题"

    page.reload()
    expect(item(page, thread_id)).to_contain_text("frank 改过的标题", timeout=LONG)
