"""The web client on a server that requires tokens: sign-in, and one user's view of another's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_flows import LONG, composer, current_thread_id, hello_world_flow, sign_in
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.docker]


def test_sign_in_refuses_a_bad_token_then_runs_the_hello_flow(
    page: Page, auth_server: AuthServer, scripted_llm: ScriptedLLM, shoot, tmp_path: Path
) -> None:
    page.goto(f"{auth_server.url}/app/")
    expect(page.get_by_test_id("token-input")).to_be_visible()
    expect(composer(page)).to_have_count(0)
    shoot(page, "sign-in")

    expired = auth_server.keys.token("alice", ttl=-60)
    sign_in(page, auth_server, expired)
    expect(page.get_by_test_id("token-input")).to_contain_text("服务器拒绝了此令牌", timeout=LONG)
    expect(composer(page)).to_have_count(0)

    sign_in(page, auth_server, auth_server.keys.token("alice"))
    expect(composer(page)).to_be_visible(timeout=LONG)
    thread_id = hello_world_flow(page, scripted_llm, auth_server.paths, shoot, tmp_path)

    # A reload keeps the user signed in and on the same thread.
    page.reload()
    expect(page.get_by_test_id("ai-message").last).to_contain_text("Hello World", timeout=LONG)
    assert current_thread_id(page) == thread_id

    # Signing out forgets the token.
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("token-input")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("token-input")).to_be_visible(timeout=LONG)


def test_a_second_user_sees_none_of_the_first_users_threads_or_files(
    browser: Browser, auth_server: AuthServer, scripted_llm: ScriptedLLM
) -> None:
    carol = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    dave = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        page = carol.new_page()
        page.set_default_timeout(60_000)
        sign_in(page, auth_server, auth_server.keys.token("carol"))
        secret = Path(__file__).parent / "artifacts" / "carol-secret.txt"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text("carol only\n", encoding="utf-8")
        page.get_by_test_id("upload-input").set_input_files(str(secret))
        expect(page.get_by_test_id("file-carol-secret.txt")).to_be_visible(timeout=LONG)
        thread_id = current_thread_id(page)
        assert (auth_server.paths.workspace(thread_id) / "carol-secret.txt").read_text(encoding="utf-8") == "carol only\n"

        other = dave.new_page()
        other.set_default_timeout(60_000)
        dave_token = auth_server.keys.token("dave")
        # Even with carol's thread in the address, dave sees no thread of hers.
        other.goto(f"{auth_server.url}/app/#thread={thread_id}")
        other.get_by_test_id("token-input").locator("input").fill(dave_token)
        other.get_by_test_id("sign-in").click()
        expect(composer(other)).to_be_visible(timeout=LONG)
        expect(other.get_by_test_id("thread-item")).to_have_count(0)
        expect(other.get_by_test_id("files-no-thread")).to_be_visible()

        # Nor her files, through the client's own file routes with his token.
        status = other.evaluate(
            """async ([tid, token]) => (await fetch(`/files/${tid}/content?path=/workspace/carol-secret.txt`,
                   { headers: { Authorization: `Bearer ${token}` } })).status""",
            [thread_id, dave_token],
        )
        assert status == 404
        base = f"{auth_server.url}/files/{thread_id}"
        params = {"path": "/workspace/carol-secret.txt"}
        as_dave = {"Authorization": f"Bearer {dave_token}"}
        assert httpx.get(f"{base}/content", params=params, headers=as_dave).status_code == 404
        assert httpx.get(f"{base}/list", params={"path": "/workspace"}, headers=as_dave).status_code == 404
        put = httpx.put(f"{base}/content", params={"path": "/workspace/x"}, content=b"x", headers=as_dave)
        assert put.status_code == 404
        assert httpx.get(f"{base}/content", params=params).status_code in {401, 403}
        assert httpx.get(f"{base}/content", params=params, headers={"Authorization": "Bearer not-a-token"}).status_code in {401, 403}
        mine = httpx.get(f"{base}/content", params=params, headers={"Authorization": f"Bearer {auth_server.keys.token('carol')}"})
        assert mine.status_code == 200
        assert mine.content == b"carol only\n"
    finally:
        carol.close()
        dave.close()


def test_a_draft_survives_an_expired_token_and_a_reload(page: Page, auth_server: AuthServer) -> None:
    # The server allows 30 s of clock skew: this token stops working about 8 s from now.
    sign_in(page, auth_server, auth_server.keys.token("erin", ttl=-22))
    expect(composer(page)).to_be_visible(timeout=LONG)
    draft = "a long message\nwritten while the token ran out"
    composer(page).click()
    page.keyboard.type("a long message")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("written while the token ran out")
    page.wait_for_timeout(10_000)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("token-input")).to_be_visible(timeout=LONG)  # the server refused the expired token

    sign_in(page, auth_server, auth_server.keys.token("erin"))
    expect(composer(page)).to_have_value(draft, timeout=LONG)
    expect(page.get_by_test_id("human-message")).to_have_count(0)
    # A reload (as after a token refresh in another tab) keeps it too.
    page.reload()
    expect(composer(page)).to_have_value(draft, timeout=LONG)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("human-message")).to_have_count(1, timeout=LONG)
    expect(page.get_by_test_id("ai-message").last).to_contain_text("默认回复", timeout=LONG)
    expect(composer(page)).to_have_value("")
    page.reload()
    expect(page.get_by_test_id("human-message")).to_have_count(1, timeout=LONG)
    expect(composer(page)).to_have_value("")  # a sent message is no longer a draft
