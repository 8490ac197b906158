"""Long-term memory: `/memories/AGENTS.md` outlives its thread and reaches every new thread's prompt.

The session server runs without authentication (single-user mode), so every thread
belongs to the one fixed user and shares one memory.
"""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.memories import memories_path
from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def memory_file(e2e_paths: E2EPaths, user_id: str) -> str:
    """Host path of a user's AGENTS.md under the server's SANDBOX_MEMORIES_DIR."""
    settings = SandboxSettings(workspaces_dir=e2e_paths.workspaces, shared_dir=e2e_paths.shared, memories_dir=e2e_paths.memories)
    return str(memories_path(settings, user_id) / "AGENTS.md")


async def test_single_user_memory_persists_across_threads(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    token = uuid.uuid4().hex[:8]
    note = f"- The user likes answers in haiku ({token})\n"
    write_trigger = f"e2e-user-memory-write-{token}"
    read_trigger = f"e2e-user-memory-read-{token}"
    scripted_llm.add_scenario(write_trigger, call("write_file", file_path="/memories/AGENTS.md", content=note), say("remembered"))
    scripted_llm.add_scenario(read_trigger, call("execute", command="cat /memories/AGENTS.md"), say("read"))

    first = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, first, input=user_input(f"Remember that I like haiku ({write_trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["write_file"], "a memory write is approval-gated like any write"
    assert paused.action_requests[0]["args"]["file_path"] == "/memories/AGENTS.md"
    done = await stream_run(client, first, command=resume(approve()))
    assert not done.errors, done.describe()
    with open(memory_file(e2e_paths, SINGLE_USER_ID), encoding="utf-8") as handle:  # noqa: ASYNC230 - a tiny local file
        assert handle.read() == note

    before_write = scripted_llm.requests_for(write_trigger)[0].system_text
    assert "/memories/AGENTS.md is your long-term memory" in before_write, "the prompt says what /memories is for"
    assert token not in before_write

    second = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, second, input=user_input(f"What do I like? ({read_trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, second, command=resume(approve()))
    assert not done.errors, done.describe()

    prompt = scripted_llm.requests_for(read_trigger)[0].system_text
    assert f"<agent_memory>\n/memories/AGENTS.md\n\n{note.rstrip()}" in prompt, prompt
    [shell] = [content_text(m) for m in tool_messages(await thread_state(client, second), "execute")]
    assert token in shell, shell
