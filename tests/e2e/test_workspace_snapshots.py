"""The workspace follows the conversation's checkpoints, on both servers.

Turn 1 writes v1 with `write_file`; turn 2 turns it into v2 with `sed -i` through
`execute`. A run from the checkpoint after turn 1 finds v1 again, one from the
checkpoint after turn 2 finds v2; a copy of the thread (`threads.copy` where the
server has it, our fork route where it does not) run from turn 1's checkpoint
finds v1 in the copy alone, while the original keeps v2. The model reads the
file with `read_file` in each run, so what is checked is what the agent sees.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import content_text, create_assistant, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRAPH_ID = "agent"
AUTO_NAME = "snapshots: no approvals"


@pytest.fixture
async def assistant(engine_client: LangGraphClient) -> str:
    """An assistant whose runs change the workspace without pausing: what is tested is what a checkpoint restores."""
    found = await engine_client.assistants.search(graph_id=GRAPH_ID, name=AUTO_NAME, limit=1)
    if found:
        return str(found[0]["assistant_id"])
    created = await create_assistant(engine_client, AUTO_NAME, {"approval_tools": []}, GRAPH_ID)
    return str(created["assistant_id"])


async def run(client: LangGraphClient, assistant: str, thread_id: str, text: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    """One run to its end; returns the thread's state after it."""
    kwargs: dict[str, Any] = {"checkpoint_id": checkpoint_id} if checkpoint_id else {}
    result = await client.runs.wait(thread_id, assistant, input=user_input(text), **kwargs)
    assert not (isinstance(result, dict) and result.get("__error__")), result
    return await thread_state(client, thread_id)


def last_read(state: dict[str, Any]) -> str:
    return content_text(tool_messages(state, "read_file")[-1])


async def fork(server: AuthServer, client: LangGraphClient, thread_id: str) -> str:
    """A copy of the thread with every checkpoint: `threads.copy` on `langgraph dev`, our fork route on Aegra."""
    if server.engine == LANGGRAPH_DEV:
        return str((await client.threads.copy(thread_id))["thread_id"])
    response = await client.http.client.post(f"/thread-forks/{thread_id}")
    response.raise_for_status()
    return str(response.json()["thread_id"])


async def test_rewind_and_copy_restore_the_checkpoints_files(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/workspace/notes-{tag}.txt"
    scripted_llm.add_scenario(f"snap-v1-{tag}", call("write_file", file_path=path, content="v1\n"), say("wrote v1"))
    scripted_llm.add_scenario(f"snap-v2-{tag}", call("execute", command=f"sed -i s/v1/v2/ {path}"), say("made it v2"))
    scripted_llm.add_scenario(f"snap-read-{tag}", call("read_file", file_path=path), say(echo_last_tool_output()))

    thread_id = (await engine_client.threads.create())["thread_id"]
    after_one = (await run(engine_client, assistant, thread_id, f"write v1 (snap-v1-{tag})"))["checkpoint"]["checkpoint_id"]
    after_two = (await run(engine_client, assistant, thread_id, f"make it v2 (snap-v2-{tag})"))["checkpoint"]["checkpoint_id"]
    host_file = engine_server.paths.workspaces / thread_id / f"notes-{tag}.txt"
    assert host_file.read_text() == "v2\n"

    state = await run(engine_client, assistant, thread_id, f"read it (snap-read-{tag})", after_one)
    assert "v1" in last_read(state), last_read(state)
    assert host_file.read_text() == "v1\n"
    state = await run(engine_client, assistant, thread_id, f"read it (snap-read-{tag})", after_two)
    assert "v2" in last_read(state), last_read(state)

    copy_id = await fork(engine_server, engine_client, thread_id)
    assert copy_id != thread_id
    copy_file = engine_server.paths.workspaces / copy_id / f"notes-{tag}.txt"
    assert copy_file.read_text() == "v2\n"  # the copy starts with the source's files as they are
    state = await run(engine_client, assistant, copy_id, f"read it (snap-read-{tag})", after_one)
    assert "v1" in last_read(state), last_read(state)
    assert copy_file.read_text() == "v1\n"
    assert host_file.read_text() == "v2\n"


async def test_a_checkpoint_whose_snapshot_is_missing_stops_the_run(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/workspace/gone-{tag}.txt"
    scripted_llm.add_scenario(f"snap-w1-{tag}", call("write_file", file_path=path, content="one\n"), say("ok"))
    scripted_llm.add_scenario(f"snap-w2-{tag}", call("write_file", file_path=path, content="two\n"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    after_one = (await run(engine_client, assistant, thread_id, f"write (snap-w1-{tag})"))["checkpoint"]["checkpoint_id"]
    snapshot = (await thread_state(engine_client, thread_id))["values"]["workspace_snapshot"]
    await run(engine_client, assistant, thread_id, f"write (snap-w2-{tag})")
    store = engine_server.paths.workspaces.with_name(engine_server.paths.workspaces.name + ".snapshots") / thread_id
    (store / "manifests" / f"{snapshot}.json").unlink()

    with pytest.raises(Exception, match="workspace snapshot") as failure:
        await engine_client.runs.wait(thread_id, assistant, input=user_input("again"), checkpoint_id=after_one, raise_error=True)
    assert not isinstance(failure.value, httpx.HTTPStatusError) or failure.value.response.status_code < 500
    assert (engine_server.paths.workspaces / thread_id / f"gone-{tag}.txt").read_text() == "two\n"


async def test_the_fork_route_copies_for_the_threads_reader_only(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    scripted_llm.add_scenario(f"snap-f1-{tag}", call("write_file", file_path=f"/workspace/f-{tag}.txt", content="mine\n"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    await run(engine_client, assistant, thread_id, f"write (snap-f1-{tag})")

    async with engine_server.client("snapshot-stranger") as stranger:
        refused = await stranger.http.client.post(f"/thread-forks/{thread_id}")
    assert refused.status_code == 404, refused.text
    async with httpx.AsyncClient(base_url=engine_server.url) as anonymous:
        assert (await anonymous.post(f"/thread-forks/{thread_id}")).status_code == 401
    misspelled = await engine_client.http.client.post(f"/thread-forks/{thread_id.upper()}")
    assert misspelled.status_code == 422, misspelled.text

    forked = await engine_client.http.client.post(f"/thread-forks/{thread_id}")
    assert forked.status_code == 201, forked.text
    copy_id = forked.json()["thread_id"]
    assert (engine_server.paths.workspaces / copy_id / f"f-{tag}.txt").read_text() == "mine\n"
    copy_state = await thread_state(engine_client, copy_id)
    assert copy_state["values"]["workspace_snapshot"] == (await thread_state(engine_client, thread_id))["values"]["workspace_snapshot"]


async def test_the_rewind_route_restores_a_checkpoints_files_now(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM, assistant: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/workspace/r-{tag}.txt"
    scripted_llm.add_scenario(f"snap-r1-{tag}", call("write_file", file_path=path, content="r1\n"), say("ok"))
    scripted_llm.add_scenario(f"snap-r2-{tag}", call("execute", command=f"echo r2 > {path}"), say("ok"))
    thread_id = (await engine_client.threads.create())["thread_id"]
    after_one = (await run(engine_client, assistant, thread_id, f"write (snap-r1-{tag})"))["checkpoint"]["checkpoint_id"]
    after_two = (await run(engine_client, assistant, thread_id, f"overwrite (snap-r2-{tag})"))["checkpoint"]["checkpoint_id"]
    host_file = engine_server.paths.workspaces / thread_id / f"r-{tag}.txt"
    http = engine_client.http.client

    rewound = await http.post(f"/thread-rewinds/{thread_id}", json={"checkpoint_id": after_one})
    assert rewound.status_code == 200, rewound.text
    assert host_file.read_text() == "r1\n"
    assert (await http.post(f"/thread-rewinds/{thread_id}", json={"checkpoint_id": after_two})).status_code == 200
    assert host_file.read_text() == "r2\n"

    for body in ({}, {"checkpoint_id": 3}, {"checkpoint_id": "../x"}):
        assert (await http.post(f"/thread-rewinds/{thread_id}", json=body)).status_code == 422, body
    unknown = await http.post(f"/thread-rewinds/{thread_id}", json={"checkpoint_id": str(uuid.uuid4())})
    assert unknown.status_code == 404, unknown.text
    async with engine_server.client("snapshot-stranger") as stranger:
        refused = await stranger.http.client.post(f"/thread-rewinds/{thread_id}", json={"checkpoint_id": after_one})
    assert refused.status_code == 404, refused.text
    assert host_file.read_text() == "r2\n"
