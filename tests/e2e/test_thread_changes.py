"""`GET /thread-changes/{thread_id}`: the files each turn changed, with diffs, on both servers, for the owner only.

Turn 1 writes a file with `write_file`; turn 2 edits it with `sed -i` through
`execute`. The route lists the file as added by turn 1 and modified by turn 2,
with unified diffs taken from the thread's snapshot store, and refuses other
users, anonymous callers, misspelled ids, unknown checkpoints and bad parameters.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import create_assistant, thread_state, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRAPH_ID = "agent"
AUTO_NAME = "snapshots: no approvals"


@pytest.fixture
async def assistant(engine_client: LangGraphClient) -> str:
    """An assistant whose runs change the workspace without pausing."""
    found = await engine_client.assistants.search(graph_id=GRAPH_ID, name=AUTO_NAME, limit=1)
    if found:
        return str(found[0]["assistant_id"])
    created = await create_assistant(engine_client, AUTO_NAME, {"approval_tools": []}, GRAPH_ID)
    return str(created["assistant_id"])


async def turn(client: LangGraphClient, assistant: str, thread_id: str, text: str) -> str:
    """One run to its end; the checkpoint id after it."""
    result = await client.runs.wait(thread_id, assistant, input=user_input(text))
    assert not (isinstance(result, dict) and result.get("__error__")), result
    state: dict[str, Any] = await thread_state(client, thread_id)
    return str(state["checkpoint"]["checkpoint_id"])


async def test_each_turns_changed_files_and_diffs(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"c-{tag}.txt"
    scripted_llm.add_scenario(f"chg-1-{tag}", call("write_file", file_path=f"/workspace/{name}", content="alpha\nbeta\n"), say("ok"))
    scripted_llm.add_scenario(f"chg-2-{tag}", call("execute", command=f"sed -i s/beta/gamma/ /workspace/{name}"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    after_one = await turn(engine_client, assistant, thread_id, f"write (chg-1-{tag})")
    after_two = await turn(engine_client, assistant, thread_id, f"edit (chg-2-{tag})")
    http = engine_client.http.client

    first = await http.get(f"/thread-changes/{thread_id}", params={"to": after_one})
    assert first.status_code == 200, first.text
    files = first.json()["files"]
    assert [(item["path"], item["status"]) for item in files] == [(name, "added")]
    assert "+alpha\n+beta\n" in files[0]["diff"]

    second = await http.get(f"/thread-changes/{thread_id}", params={"from": after_one, "to": after_two})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["total"] == 1
    assert body["truncated"] is False
    assert body["files"][0]["status"] == "modified"
    assert "-beta\n+gamma\n" in body["files"][0]["diff"]
    same = await http.get(f"/thread-changes/{thread_id}", params={"from": after_two, "to": after_two})
    assert same.json()["files"] == []


async def test_the_changes_route_refuses_what_it_must(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    scripted_llm.add_scenario(f"chg-r-{tag}", call("write_file", file_path=f"/workspace/r-{tag}.txt", content="x\n"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    after = await turn(engine_client, assistant, thread_id, f"write (chg-r-{tag})")
    http = engine_client.http.client
    route = f"/thread-changes/{thread_id}"

    async with engine_server.client("changes-stranger") as stranger:
        refused = await stranger.http.client.get(route, params={"to": after})
    assert refused.status_code == 404, refused.text
    async with httpx.AsyncClient(base_url=engine_server.url) as anonymous:
        assert (await anonymous.get(route, params={"to": after})).status_code == 401
    misspelled = await http.get(f"/thread-changes/{thread_id.upper()}", params={"to": after})
    assert misspelled.status_code == 422, misspelled.text
    unknown = await http.get(route, params={"to": str(uuid.uuid4())})
    assert unknown.status_code == 404, unknown.text
    unknown_from = await http.get(route, params={"from": str(uuid.uuid4()), "to": after})
    assert unknown_from.status_code == 404, unknown_from.text
    for params in ({}, {"to": "../x"}, {"from": after}, {"to": after, "extra": "1"}, [("to", after), ("to", after)]):
        bad = await http.get(route, params=params)
        assert bad.status_code == 422, (params, bad.text)


async def test_a_lost_snapshot_is_a_conflict_not_a_server_error(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    scripted_llm.add_scenario(f"chg-l-{tag}", call("write_file", file_path=f"/workspace/l-{tag}.txt", content="x\n"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    after = await turn(engine_client, assistant, thread_id, f"write (chg-l-{tag})")
    snapshot = (await thread_state(engine_client, thread_id))["values"]["workspace_snapshot"]
    store = engine_server.paths.workspaces.with_name(engine_server.paths.workspaces.name + ".snapshots") / thread_id
    (store / "manifests" / f"{snapshot}.json").unlink()

    lost = await engine_client.http.client.get(f"/thread-changes/{thread_id}", params={"to": after})
    assert lost.status_code == 409, lost.text
    assert "no longer stored" in lost.json()["detail"]
