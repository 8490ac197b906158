"""Approvals as a reviewer sees them: `delete` is gated, descriptions are computed on the server."""

from __future__ import annotations

import os
import uuid

import pytest
from langgraph_sdk.client import LangGraphClient
from sandbox.host_files import create_workspace_dir
from sandbox.settings import SandboxSettings

from tests.support.agent_client import approve, content_text, reject, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _trigger(name: str) -> str:
    return f"e2e-{name}-{uuid.uuid4().hex[:8]}"


async def _thread_with_files(client: LangGraphClient, e2e_paths: E2EPaths, files: dict[str, str]) -> str:
    """A new thread whose workspace already holds `files`, owned by the sandbox user as the agent's own would be."""
    thread_id = (await client.threads.create())["thread_id"]
    workspace = e2e_paths.workspace(thread_id)
    owner = (SandboxSettings().uid, SandboxSettings().gid)
    create_workspace_dir(workspace, owner)
    for relative, text in files.items():
        target = workspace / relative
        for parent in reversed(target.relative_to(workspace).parents[:-1]):
            if not (workspace / parent).exists():
                (workspace / parent).mkdir()
                os.chown(workspace / parent, *owner)
        target.write_text(text, encoding="utf-8")
        os.chown(target, *owner)
    return thread_id


@pytest.mark.parametrize("decision", ["reject", "approve"])
async def test_delete_pauses_and_only_approval_deletes(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, decision: str
) -> None:
    trigger = _trigger(f"delete-{decision}")
    scripted_llm.add_scenario(trigger, call("delete", file_path="/workspace/notes.txt"), say("done"))
    thread_id = await _thread_with_files(client, e2e_paths, {"notes.txt": "keep me\n"})
    notes = e2e_paths.workspace(thread_id) / "notes.txt"

    first = await stream_run(client, thread_id, input=user_input(f"delete the notes ({trigger})"))
    assert not first.errors, first.describe()
    [action] = first.action_requests
    assert action["name"] == "delete"
    assert action["args"] == {"file_path": "/workspace/notes.txt"}
    assert "/workspace/notes.txt" in action["description"], action
    assert "a file of 8 bytes" in action["description"], action
    [hitl] = first.interrupt_values
    assert set(hitl["review_configs"][0]["allowed_decisions"]) == {"approve", "edit", "reject", "respond"}
    assert notes.read_text(encoding="utf-8") == "keep me\n", "delete ran before a decision"

    answer = approve() if decision == "approve" else reject("keep it")
    second = await stream_run(client, thread_id, command=resume(answer))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()
    [result] = tool_messages(await thread_state(client, thread_id), "delete")
    if decision == "approve":
        assert not notes.exists(), "approved delete did not delete"
        assert "Deleted /workspace/notes.txt" in content_text(result)
    else:
        assert notes.read_text(encoding="utf-8") == "keep me\n", "rejected delete deleted the file"
        assert "keep it" in content_text(result)


async def test_delete_description_says_directory(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    trigger = _trigger("delete-dir")
    scripted_llm.add_scenario(trigger, call("delete", file_path="/workspace/build"), say("done"))
    thread_id = await _thread_with_files(client, e2e_paths, {"build/out.o": "x", "build/sub/more.o": "y"})

    first = await stream_run(client, thread_id, input=user_input(f"remove build ({trigger})"))
    [action] = first.action_requests
    assert action["description"] == "delete /workspace/build: a DIRECTORY, removed with everything in it", action
    second = await stream_run(client, thread_id, command=resume(reject()))
    assert not second.errors, second.describe()
    assert (e2e_paths.workspace(thread_id) / "build" / "sub" / "more.o").exists()
