"""What a credential is, on every engine: the headers real clients send, reserved ids, hostile tokens and bodies.

Each answer is a 2xx or a 4xx with a reason; never a 5xx, never another user's data.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.support.agent_client import GRAPH_ID, user_input
from tests.support.auth_keys import claims, sign_hs256
from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

RESERVED_SUBJECTS = ("system", "System", "anonymous", "langgraph-studio-user", "local")
"""`system` owns both servers' built-in assistants (Aegra shows its rows to everyone), `anonymous` is
Aegra's user without auth, `langgraph-studio-user` langgraph_api's Studio user, `local` this project's single user."""


def agent_chat_ui_headers(token: str) -> dict[str, str]:
    """What agent-chat-ui sends: `new Client({apiKey, apiUrl, defaultHeaders: undefined})` -> `x-api-key` only."""
    return {"x-api-key": token}


def deep_agents_ui_headers(token: str) -> dict[str, str]:
    """What deep-agents-ui sends: its client's `X-Api-Key` and `Content-Type`, and its stream's `x-auth-scheme`."""
    return {"Content-Type": "application/json", "X-Api-Key": token, "x-auth-scheme": "langsmith"}


async def test_the_api_key_header_of_agent_chat_ui_and_deep_agents_ui_signs_in(engine_server: AuthServer) -> None:
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as http:
        for client_name, make_headers in (("agent-chat-ui", agent_chat_ui_headers), ("deep-agents-ui", deep_agents_ui_headers)):
            user = f"ui-{client_name}"
            headers = make_headers(engine_server.keys.token(user))
            created = await http.post("/threads", json={"metadata": {"owner": "someone-else"}}, headers=headers)
            assert created.status_code == 200, (client_name, created.status_code, created.text)
            thread_id = created.json()["thread_id"]
            assert created.json()["metadata"]["owner"] == user
            found = await http.post("/threads/search", json={"limit": 100}, headers=headers)
            assert found.status_code == 200, (client_name, found.text)
            assert thread_id in {t["thread_id"] for t in found.json()}
            # The workspace file routes take the same credential.
            files = f"/files/{thread_id}"
            put = await http.put(f"{files}/content", params={"path": "/workspace/k.txt"}, content=b"key", headers=headers)
            assert put.status_code == 201, (client_name, put.text)
            listing = await http.get(f"{files}/list", params={"path": "/workspace"}, headers=headers)
            assert listing.status_code == 200, (client_name, listing.text)
            assert [e["name"] for e in listing.json()["entries"]] == ["k.txt"]
            # Another user's key sees neither the thread nor its files.
            other = make_headers(engine_server.keys.token("ui-stranger"))
            assert (await http.get(f"/threads/{thread_id}", headers=other)).status_code == 404
            assert (await http.get(f"{files}/list", params={"path": "/workspace"}, headers=other)).status_code == 404


async def test_a_bad_api_key_gets_401_with_a_reason_that_does_not_echo_it(engine_server: AuthServer) -> None:
    forged = sign_hs256("q" * 64, claims("user-a"))
    expired = engine_server.keys.token("user-a", ttl=-600)
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as http:
        for token, reason in ((forged, "signature"), (expired, "expired"), ("not-a-jwt-secret-value", "malformed")):
            for headers in (agent_chat_ui_headers(token), deep_agents_ui_headers(token)):
                refused = await http.post("/threads/search", json={}, headers=headers)
                assert refused.status_code == 401, (headers, refused.text)
                assert reason in refused.text, refused.text
                assert token not in refused.text
        nothing = await http.post("/threads/search", json={}, headers={"x-api-key": ""})
        assert nothing.status_code == 401
        assert "X-Api-Key" in nothing.text, nothing.text
        files = await http.get(f"/files/{uuid.uuid4()}/list", headers=agent_chat_ui_headers(forged))
        assert files.status_code == 401, files.text
        assert forged not in files.text


async def test_reserved_identities_are_refused_at_authentication(engine_server: AuthServer) -> None:
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as http:
        for subject in RESERVED_SUBJECTS:
            headers = {"Authorization": f"Bearer {engine_server.keys.token(subject)}"}
            for path, body in (("/assistants", {"graph_id": GRAPH_ID, "name": "looks built in"}), ("/threads/search", {})):
                refused = await http.post(path, json=body, headers=headers)
                assert refused.status_code == 401, (subject, path, refused.status_code, refused.text)
                assert "reserved" in refused.text, refused.text
        ok = await http.post("/threads/search", json={}, headers={"Authorization": f"Bearer {engine_server.keys.token('system-admin')}"})
        assert ok.status_code == 200, ok.text


async def test_a_token_with_a_crit_header_gets_401(engine_server: AuthServer) -> None:
    body = claims("user-a")
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as http:
        for crit in (["exp"], "not-a-list"):
            token = jwt.encode(body, engine_server.keys.secret, algorithm="HS256", headers={"crit": crit})
            refused = await http.post("/threads/search", json={}, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, (crit, refused.status_code, refused.text)
            assert "crit" in refused.text.lower(), refused.text


async def test_a_store_search_without_a_namespace_prefix_is_a_clear_422(engine_server: AuthServer) -> None:
    headers = {"Authorization": f"Bearer {engine_server.keys.token('user-a')}"}
    async with httpx.AsyncClient(base_url=engine_server.url, timeout=60) as http:
        for body in ({}, {"namespace_prefix": None}, {"limit": 5}):
            answer = await http.post("/store/items/search", json=body, headers=headers)
            assert answer.status_code == 422, (body, answer.status_code, answer.text)
            assert "namespace_prefix" in answer.text, answer.text
        assert (await http.post("/store/items/search", json={"namespace_prefix": []}, headers=headers)).status_code == 200


async def test_a_forged_run_user_never_becomes_the_runs_user(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    """`langgraph dev` strips the identity keys from `config.configurable` and `context` of every write request
    before any handler sees them (200, and the run is the caller's); Aegra passes them through, so the auth
    module refuses them (422). Either way the run never acts as the user named."""
    trigger = f"e2e-forged-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, say("hi"))
    forgeries: list[dict[str, Any]] = [
        {"config": {"configurable": {"langgraph_auth_user_id": "user-b"}}},
        {"config": {"configurable": {"langgraph_auth_user": {"identity": "user-b"}}}},
        {"context": {"langgraph_auth_user_id": "user-b"}},
    ]
    async with engine_server.client("user-a") as alice:
        thread_id = (await alice.threads.create())["thread_id"]
        for forged in forgeries:
            if engine_server.engine == LANGGRAPH_DEV:
                await alice.runs.wait(thread_id, GRAPH_ID, input=user_input(trigger), **forged)
                run = (await alice.runs.list(thread_id, limit=1))[0]
                assert run["kwargs"]["config"]["configurable"]["langgraph_auth_user_id"] == "user-a", run["kwargs"]
                assert "user-b" not in str(run["kwargs"]), run["kwargs"]
                assistant = await alice.assistants.create(GRAPH_ID, **forged)
                assert "user-b" not in str(assistant), assistant
                continue
            runs_before = len(await alice.runs.list(thread_id))
            run = alice.runs.wait(thread_id, GRAPH_ID, input=user_input(trigger), **forged)
            for attempt in (run, alice.assistants.create(GRAPH_ID, **forged)):
                with pytest.raises(httpx.HTTPStatusError) as refused:
                    await attempt
                assert refused.value.response.status_code == 422, (forged, refused.value.response.text)
                assert "must not name another user" in refused.value.response.text
            assert len(await alice.runs.list(thread_id)) == runs_before
