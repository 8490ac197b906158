"""Sandbox hygiene seen from the host: the shared folder is read-only, ephemeral containers go away."""

from __future__ import annotations

import asyncio
import uuid

import docker
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import SHARED_FILE_NAME, SHARED_FILE_TEXT
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _containers_mounting(folder: str) -> list[str]:
    """Names of containers (any state) with a bind mount from inside `folder`."""
    engine = docker.from_env(timeout=30)
    try:
        return [
            c.name
            for c in engine.containers.list(all=True, ignore_removed=True)
            if any(str(m.get("Source", "")).startswith(folder) for m in c.attrs.get("Mounts") or [])
        ]
    finally:
        engine.close()


async def test_shared_folder_is_mounted_read_only(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-shared-{token}"
    command = f"cat /shared/{SHARED_FILE_NAME} && touch /shared/written-{token}; echo touch-exit=$?"
    scripted_llm.add_scenario(trigger, call("execute", command=command), say(echo_last_tool_output()))
    thread_id = (await client.threads.create())["thread_id"]

    paused = await stream_run(client, thread_id, input=user_input(f"Read the shared file ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()

    [result] = tool_messages(await thread_state(client, thread_id), "execute")
    output = content_text(result)
    assert SHARED_FILE_TEXT.strip() in output, output
    assert "touch-exit=0" not in output, f"/shared must be read-only: {output}"
    assert not (e2e_paths.shared / f"written-{token}").exists()


async def test_ephemeral_sandboxes_leave_no_containers(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    trigger = f"e2e-ephemeral-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command="echo ephemeral"), say(echo_last_tool_output()))
    thread_id = (await client.threads.create())["thread_id"]

    await stream_run(client, thread_id, input=user_input(f"Run once ({trigger})"))
    done = await stream_run(client, thread_id, command=resume(approve()))
    assert "ephemeral" in done.final_ai_text, done.describe()

    folder = str(e2e_paths.workspaces)
    leftovers = _containers_mounting(folder)
    for _ in range(20):
        if not leftovers:
            break
        await asyncio.sleep(0.5)
        leftovers = _containers_mounting(folder)
    assert not leftovers, f"ephemeral mode left containers behind: {leftovers}"
