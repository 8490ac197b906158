"""Admins (`AUTH_ADMIN_USERS`): the only users whose assistants everyone sees, and who read `/metrics`.

The server's own documentation and metrics routes (`/docs`, `/openapi.json`, `/metrics`) answer only
to a valid token when auth is on; in single-user mode they stay as the server serves them.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import GRAPH_ID, user_input
from tests.support.auth_keys import ADMIN_USER, claims, sign_hs256
from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GATED_DOCS = ("/docs", "/openapi.json")
METRICS = "/metrics"


async def _ids(user: LangGraphClient) -> set[str]:
    return {a["assistant_id"] for a in await user.assistants.search(limit=1000)}


async def test_only_an_admins_assistant_is_seen_and_used_by_every_user(auth_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    trigger = f"e2e-admin-asst-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, say("shared reply"))
    async with auth_server.client(ADMIN_USER) as admin, auth_server.client("user-a") as alice, auth_server.client("user-b") as bob:
        # The marker is the server's: a user who sends it, or the built-in one's, gets a private assistant.
        private = await alice.assistants.create(
            GRAPH_ID,
            name="alice's, no approvals",
            context={"approval_tools": []},
            metadata={"visibility": "everyone", "created_by": "system"},
        )
        assert private["metadata"]["visibility"] == "owner", private["metadata"]
        assert private["metadata"].get("created_by") != "system"
        updated = await alice.assistants.update(private["assistant_id"], metadata={"visibility": "everyone"})
        assert updated["metadata"]["visibility"] == "owner", updated["metadata"]
        assert private["assistant_id"] not in await _ids(bob)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await bob.assistants.get(private["assistant_id"])
        assert refused.value.response.status_code == 404

        shared = await admin.assistants.create(GRAPH_ID, name="team default", metadata={"visibility": "owner"})
        assert shared["metadata"]["visibility"] == "everyone", shared["metadata"]
        assert shared["metadata"]["owner"] == ADMIN_USER
        for user in (alice, bob):
            assert shared["assistant_id"] in await _ids(user)
            assert (await user.assistants.get(shared["assistant_id"]))["name"] == "team default"
        # Everyone runs it; only its admin changes or deletes it.
        thread_id = (await bob.threads.create())["thread_id"]
        assert "shared reply" in str(await bob.runs.wait(thread_id, shared["assistant_id"], input=user_input(trigger)))
        for attempt in (bob.assistants.update(shared["assistant_id"], name="bob's now"), bob.assistants.delete(shared["assistant_id"])):
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await attempt
            assert refused.value.response.status_code == 404
        assert (await admin.assistants.get(shared["assistant_id"]))["name"] == "team default"
        # The admin's own view: their assistant, not the private one of another user.
        assert private["assistant_id"] not in await _ids(admin)
        await admin.assistants.delete(shared["assistant_id"])
        assert shared["assistant_id"] not in await _ids(alice)


def test_docs_and_metrics_need_a_token_when_auth_is_on(engine_server: AuthServer) -> None:
    """On `langgraph dev` all three routes exist; Aegra serving our `http.app` has no docs (404 past the gate).

    `/metrics` is ours on both (`server.metrics_route`): the `sandbox_` metrics, after
    `langgraph dev`'s own `lg_api_*` ones; only the callers the gate lets through see them.
    """
    keys = engine_server.keys
    served = 200 if engine_server.engine == LANGGRAPH_DEV else 404
    user = {"Authorization": f"Bearer {keys.token('user-a')}"}
    admin = {"Authorization": f"Bearer {keys.token(ADMIN_USER)}"}
    scraper = {"Authorization": f"Bearer {keys.metrics_token}"}
    with httpx.Client(base_url=engine_server.url, timeout=30) as http:
        for path in (*GATED_DOCS, METRICS, "/docs/", "/openapi.json/"):
            for headers in ({}, {"Authorization": f"Bearer {sign_hs256('w' * 64, claims('user-a'))}"}, {"x-auth-scheme": "langsmith"}):
                refused = http.get(path, headers=headers)
                assert refused.status_code == 401, (path, headers, refused.status_code, refused.text[:300])
                assert refused.json()["detail"], refused.text
        for path in GATED_DOCS:
            for headers in (user, admin, {"x-api-key": keys.token("user-b")}):
                assert http.get(path, headers=headers).status_code == served, (path, headers)
            # The scrape token is for /metrics alone.
            assert http.get(path, headers=scraper).status_code == 401
        if served == 200:
            assert http.get("/openapi.json", headers=user).json()["paths"]
        forbidden = http.get(METRICS, headers=user)
        assert forbidden.status_code == 403, forbidden.text
        assert "AUTH_ADMIN_USERS" in forbidden.json()["detail"]
        assert "sandbox_" not in forbidden.text
        for headers in (admin, scraper):
            allowed = http.get(METRICS, headers=headers)
            assert allowed.status_code == 200, (headers, allowed.text[:300])
            assert allowed.headers["content-type"].startswith("text/plain"), allowed.headers
            assert "sandbox_commands_started_total" in allowed.text, allowed.text[:300]
            assert ("lg_api_" in allowed.text) == (engine_server.engine == LANGGRAPH_DEV), allowed.text[:300]
        wrong_scrape = http.get(METRICS, headers={"Authorization": f"Bearer {keys.metrics_token}x"})
        assert wrong_scrape.status_code == 401
        assert keys.metrics_token not in wrong_scrape.text
        assert "sandbox_" not in wrong_scrape.text
        # Health checks stay public.
        assert http.get("/info").status_code == 200


def test_docs_and_metrics_are_open_in_single_user_mode(langgraph_server: LangGraphServer) -> None:
    with httpx.Client(base_url=langgraph_server.url, timeout=30) as http:
        for path in (*GATED_DOCS, METRICS):
            assert http.get(path).status_code == 200, path
        assert "sandbox_commands_started_total" in http.get(METRICS).text
