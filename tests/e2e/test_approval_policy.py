"""Approval policies per assistant: an allow-list lets read-only commands through, nothing else."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import content_text, reject, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.workspace_seed import thread_with_files

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

READ_ONLY = ["ls", "cat", "git status", "git diff"]


async def _assistant(client: LangGraphClient, **context: object) -> str:
    created = await client.assistants.create(graph_id="agent", context=context, name=f"policy-{uuid.uuid4().hex[:6]}")
    return created["assistant_id"]


async def test_allow_listed_ls_runs_without_approval_but_rm_and_chains_pause(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    assistant_id = await _assistant(client, auto_approved_commands=READ_ONLY)
    token = uuid.uuid4().hex[:8]

    # `ls` runs at once: no interrupt, its output reaches the model.
    ls_trigger = f"policy-ls-{token}"
    scripted_llm.add_scenario(ls_trigger, call("execute", command="ls -a /workspace"), say(echo_last_tool_output("ls: ")))
    thread_id = (await client.threads.create())["thread_id"]
    ran = await stream_run(client, thread_id, input=user_input(f"list ({ls_trigger})"), assistant_id=assistant_id)
    assert not ran.errors, ran.describe()
    assert not ran.interrupts, ran.describe()
    [listing] = tool_messages(await thread_state(client, thread_id), "execute")
    assert ".." in content_text(listing), listing

    # `rm` and `ls; rm -rf x` still pause, and nothing runs before the decision.
    for label, command in (("rm", "rm -f /workspace/keep.txt"), ("chain", "ls; rm -rf /workspace/keep.txt")):
        trigger = f"policy-{label}-{token}"
        scripted_llm.add_scenario(trigger, call("execute", command=command), say("done"))
        thread_id = await thread_with_files(client, e2e_paths, {"keep.txt": "keep\n"})
        keep = e2e_paths.workspace(thread_id) / "keep.txt"
        paused = await stream_run(client, thread_id, input=user_input(f"remove ({trigger})"), assistant_id=assistant_id)
        assert [a["args"]["command"] for a in paused.action_requests] == [command], paused.describe()
        assert keep.read_text() == "keep\n", f"{command!r} ran before a decision"
        done = await stream_run(client, thread_id, command=resume(reject()), assistant_id=assistant_id)
        assert not done.errors, done.describe()
        assert keep.read_text() == "keep\n"


async def test_an_assistant_may_choose_which_tools_pause(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    assistant_id = await _assistant(client, approval_tools=["delete"])
    trigger = f"policy-tools-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("write_file", file_path="/workspace/w.txt", content="w\n"), say("done"))
    thread_id = (await client.threads.create())["thread_id"]
    run = await stream_run(client, thread_id, input=user_input(f"write ({trigger})"), assistant_id=assistant_id)
    assert not run.errors, run.describe()
    assert not run.interrupts, run.describe()
    assert (e2e_paths.workspace(thread_id) / "w.txt").read_text() == "w\n"


async def test_policies_live_on_assistants_only(client: LangGraphClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as bad_assistant:
        await _assistant(client, approval_tools=["rm_rf"])
    assert bad_assistant.value.response.status_code == 422
    assert "unknown tools" in bad_assistant.value.response.text

    thread_id = (await client.threads.create())["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as run_level:
        await client.runs.create(thread_id, "agent", input=user_input("hi"), context={"approval_tools": []})
    assert run_level.value.response.status_code == 422
    assert "only be set on an assistant" in run_level.value.response.text
    assert await client.runs.list(thread_id) == []


async def test_a_resume_must_use_the_assistant_that_paused(client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    assistant_id = await _assistant(client, auto_approved_commands=["ls"])
    trigger = f"policy-switch-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("execute", command="rm -rf /workspace/x"), say("done"))
    thread_id = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, thread_id, input=user_input(f"remove ({trigger})"), assistant_id=assistant_id)
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()

    with pytest.raises(httpx.HTTPStatusError) as switched:
        await client.runs.create(thread_id, "agent", command=resume(reject()))
    assert switched.value.response.status_code == 409
    assert "the assistant that paused this thread" in switched.value.response.text

    done = await stream_run(client, thread_id, command=resume(reject()), assistant_id=assistant_id)
    assert not done.errors, done.describe()
    assert not done.interrupts, done.describe()
