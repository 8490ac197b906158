"""Long-term memory: `/memories/AGENTS.md` outlives its thread and reaches its user's new threads' prompts.

The session server runs without authentication (single-user mode), so every thread
belongs to the one fixed user and shares one memory. The auth server tells users
apart by their tokens: one user's memory never reaches another's tools or prompts.
"""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.disks.memories import memories_path
from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, calls, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SEARCHED = "/memories /workspace /shared /tmp /home /root"
"""Where another user's shell looks for a leaked memory (every writable or mounted place)."""


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


async def test_memories_are_private_to_each_user(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    token = uuid.uuid4().hex[:8]
    note = f"- user-a keeps a private preference {token}\n"
    write_trigger = f"e2e-auth-memory-write-{token}"
    recall_trigger = f"e2e-auth-memory-recall-{token}"
    probe_trigger = f"e2e-auth-memory-probe-{token}"
    scripted_llm.add_scenario(write_trigger, call("write_file", file_path="/memories/AGENTS.md", content=note), say("remembered"))
    scripted_llm.add_scenario(recall_trigger, say("recalled"))
    scripted_llm.add_scenario(
        probe_trigger,
        calls(
            ("read_file", {"file_path": "/memories/AGENTS.md"}),
            ("ls", {"path": "/memories"}),
            ("grep", {"pattern": token, "path": "/"}),
        ),
        # The token is split in the command line, so grep cannot find it in its own /proc entry.
        call("execute", command=f'ls -A /memories; cat /memories/AGENTS.md; H={token[:4]}; grep -rs "$H{token[4:]}" {SEARCHED}; echo done'),
        say("probed"),
    )

    async with engine_server.client("user-a") as user_a, engine_server.client("user-b") as user_b:
        written = (await user_a.threads.create())["thread_id"]
        paused = await stream_run(user_a, written, input=user_input(f"Remember my preference ({write_trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["write_file"], paused.describe()
        done = await stream_run(user_a, written, command=resume(approve()))
        assert not done.errors, done.describe()
        with open(memory_file(engine_server.paths, "user-a"), encoding="utf-8") as handle:  # noqa: ASYNC230 - a tiny local file
            assert handle.read() == note

        later = (await user_a.threads.create())["thread_id"]
        done = await stream_run(user_a, later, input=user_input(f"What do you know about me? ({recall_trigger})"))
        assert not done.errors, done.describe()
        assert token in scripted_llm.requests_for(recall_trigger)[0].system_text, "user-a's new thread loads user-a's memory"

        other = (await user_b.threads.create())["thread_id"]
        paused = await stream_run(user_b, other, input=user_input(f"Look for memories ({probe_trigger})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(user_b, other, command=resume(approve()))
        assert not done.errors, done.describe()
        outputs = {m["name"]: content_text(m) for m in tool_messages(await thread_state(user_b, other))}

    assert set(outputs) == {"read_file", "ls", "grep", "execute"}, outputs
    assert "done" in outputs["execute"], outputs
    assert "No such file" in outputs["execute"], outputs
    for name, text in outputs.items():
        assert token not in text, (name, text)
    probes = scripted_llm.requests_for(probe_trigger)
    assert len(probes) == 3
    for request in probes:
        assert token not in request.system_text, "user-b's prompt must not carry user-a's memory"
        assert "(No memory loaded)" in request.system_text
