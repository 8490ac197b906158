"""Admins (`AUTH_ADMIN_USERS`): the only users whose assistants everyone sees."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.e2e.conftest import AuthServer
from tests.support.agent_client import GRAPH_ID, user_input
from tests.support.auth_keys import ADMIN_USER
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


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
