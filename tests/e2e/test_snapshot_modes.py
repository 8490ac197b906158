"""Checkpoints restore the workspace in session mode, across a server restart, and after a subagent's changes.

The same v1 (`write_file`) / v2 (`sed -i` through `execute`) turns as
`test_workspace_snapshots`, on the session-mode server (the thread's container
keeps running while its files are restored under it), on a server restarted
between the turns and the rewind (nothing about snapshots lives in a process),
with the change made by the general-purpose subagent that `task` starts, and with
changes a reviewer approved (the run that makes them resumes at the tools step).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, create_assistant, resume, thread_state, tool_messages, user_input
from tests.support.e2e_servers import CONTRACT_USER, AuthServer
from tests.support.langgraph_server import LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRAPH_ID = "agent"


async def auto_assistant(client: LangGraphClient, tag: str) -> str:
    """An assistant whose runs change the workspace without pausing."""
    created = await create_assistant(client, f"snap-modes-{tag}", {"approval_tools": []}, GRAPH_ID)
    return str(created["assistant_id"])


async def run(client: LangGraphClient, assistant: str, thread_id: str, text: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"checkpoint_id": checkpoint_id} if checkpoint_id else {}
    await client.runs.wait(thread_id, assistant, input=user_input(text), **kwargs)
    return await thread_state(client, thread_id)


def scenarios(scripted_llm: ScriptedLLM, tag: str) -> str:
    path = f"/workspace/modes-{tag}.txt"
    scripted_llm.add_scenario(f"modes-v1-{tag}", call("write_file", file_path=path, content="v1\n"), say("v1"))
    scripted_llm.add_scenario(f"modes-v2-{tag}", call("execute", command=f"sed -i s/v1/v2/ {path}"), say("v2"))
    scripted_llm.add_scenario(f"modes-read-{tag}", call("read_file", file_path=path), say(echo_last_tool_output()))
    return f"modes-{tag}.txt"


async def test_session_mode_restores_under_the_running_container(
    session_server: LangGraphServer, session_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = scenarios(scripted_llm, tag)
    assistant = await auto_assistant(session_client, tag)
    thread_id = (await session_client.threads.create())["thread_id"]
    after_one = (await run(session_client, assistant, thread_id, f"(modes-v1-{tag})"))["checkpoint"]["checkpoint_id"]
    await run(session_client, assistant, thread_id, f"(modes-v2-{tag})")
    state = await run(session_client, assistant, thread_id, f"(modes-read-{tag})", after_one)
    assert "v1" in content_text(tool_messages(state, "read_file")[-1])
    assert (Path(session_server.workdir) / "workspaces" / thread_id / name).read_text() == "v1\n"


async def test_a_restarted_server_restores_the_checkpoints_files(restartable_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    tag = uuid.uuid4().hex[:8]
    name = scenarios(scripted_llm, tag)
    async with restartable_server.client(CONTRACT_USER) as client:
        assistant = await auto_assistant(client, tag)
        thread_id = (await client.threads.create())["thread_id"]
        after_one = (await run(client, assistant, thread_id, f"(modes-v1-{tag})"))["checkpoint"]["checkpoint_id"]
        after_two = (await run(client, assistant, thread_id, f"(modes-v2-{tag})"))["checkpoint"]["checkpoint_id"]
    await asyncio.to_thread(restartable_server.restart)
    host_file = restartable_server.paths.workspaces / thread_id / name
    async with restartable_server.client(CONTRACT_USER) as client:
        await run(client, assistant, thread_id, f"(modes-read-{tag})", after_one)
        assert host_file.read_text() == "v1\n"
        await run(client, assistant, thread_id, f"(modes-read-{tag})", after_two)
        assert host_file.read_text() == "v2\n"


async def test_a_subagents_changes_are_restored_too(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/workspace/sub-{tag}.txt"
    sub = f"modes-sub-{tag}"
    scripted_llm.add_scenario(sub, call("write_file", file_path=path, content="from the subagent\n"), say("written"))
    scripted_llm.add_scenario(
        f"modes-task-{tag}", call("task", description=f"write the file ({sub})", subagent_type="general-purpose"), say("done")
    )
    scripted_llm.add_scenario(f"modes-other-{tag}", call("execute", command=f"echo later > {path}"), say("ok"))
    assistant = await auto_assistant(engine_client, tag)
    thread_id = (await engine_client.threads.create())["thread_id"]
    after_task = await run(engine_client, assistant, thread_id, f"delegate (modes-task-{tag})")
    assert after_task["values"].get("workspace_snapshot"), after_task["values"].keys()
    await run(engine_client, assistant, thread_id, f"overwrite (modes-other-{tag})")
    host_file = engine_server.paths.workspaces / thread_id / f"sub-{tag}.txt"
    assert host_file.read_text() == "later\n"
    await run(engine_client, assistant, thread_id, "again", after_task["checkpoint"]["checkpoint_id"])
    assert host_file.read_text() == "from the subagent\n"


async def test_approved_changes_are_snapshotted_and_restored(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = scenarios(scripted_llm, tag)
    thread_id = (await engine_client.threads.create())["thread_id"]
    for text in (f"(modes-v1-{tag})", f"(modes-v2-{tag})"):
        paused = await engine_client.runs.wait(thread_id, GRAPH_ID, input=user_input(text))
        assert paused.get("__interrupt__"), paused  # the default policy asks first
        await engine_client.runs.wait(thread_id, GRAPH_ID, command=resume(approve()))
        if text.startswith("(modes-v1"):
            after_one = (await thread_state(engine_client, thread_id))["checkpoint"]["checkpoint_id"]
    host_file = engine_server.paths.workspaces / thread_id / name
    assert host_file.read_text() == "v2\n"
    state = await run(engine_client, GRAPH_ID, thread_id, f"(modes-read-{tag})", after_one)
    assert "v1" in content_text(tool_messages(state, "read_file")[-1])
    assert host_file.read_text() == "v1\n"
