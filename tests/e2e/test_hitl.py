# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""Human-in-the-loop: gated tools pause the run until a reviewer decides."""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import (
    content_text,
    edit,
    reject,
    respond,
    resume,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.hello_flow import write_then_execute_with_approvals
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, calls, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


async def test_write_then_execute_with_approvals(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    await write_then_execute_with_approvals(engine_client, scripted_llm, engine_paths)


async def test_reject_keeps_tools_from_running(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-reject-{token}"
    scripted_llm.add_scenario(
        trigger,
        calls(
            ("write_file", {"file_path": "/workspace/rejected.txt", "content": "must not exist\n"}),
            ("execute", {"command": "touch /workspace/rejected_marker"}),
        ),
        say(echo_last_tool_output()),
    )
    thread_id = (await engine_client.threads.create())["thread_id"]
    workspace = engine_paths.workspace(thread_id)

    first = await stream_run(engine_client, thread_id, input=user_input(f"Write a file and touch a marker ({trigger})"))
    assert [a["name"] for a in first.action_requests] == ["write_file", "execute"], first.describe()

    write_reason = f"no files please {token}"
    execute_reason = f"no commands please {token}"
    second = await stream_run(engine_client, thread_id, command=resume(reject(write_reason), reject(execute_reason)))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()

    assert not (workspace / "rejected.txt").exists()
    assert not (workspace / "rejected_marker").exists()

    state = await thread_state(engine_client, thread_id)
    results = {m["name"]: content_text(m) for m in tool_messages(state)}
    assert write_reason in results["write_file"], results
    assert execute_reason in results["execute"], results

    # The model was told about both rejections.
    after = [r for r in scripted_llm.requests_for(trigger) if r.step == 1]
    assert after, "the model was not called again after the rejections"
    outputs = after[-1].tool_outputs()
    assert any(write_reason in o for o in outputs), outputs
    assert any(execute_reason in o for o in outputs), outputs


async def test_edit_runs_the_edited_command(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    trigger = f"e2e-edit-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(
        trigger,
        call("execute", command="echo original > /workspace/e.txt"),
        say(echo_last_tool_output()),
    )
    thread_id = (await engine_client.threads.create())["thread_id"]

    first = await stream_run(engine_client, thread_id, input=user_input(f"Write e.txt ({trigger})"))
    assert [a["args"] for a in first.action_requests] == [{"command": "echo original > /workspace/e.txt"}], first.describe()

    second = await stream_run(engine_client, thread_id, command=resume(edit("execute", {"command": "echo edited > /workspace/e.txt"})))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()

    assert (engine_paths.workspace(thread_id) / "e.txt").read_text(encoding="utf-8") == "edited\n"

    state = await thread_state(engine_client, thread_id)
    [result] = tool_messages(state, "execute")
    assert "echo edited" in content_text(result), "the model should be told which command really ran"


async def test_respond_answers_for_the_tool(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-respond-{token}"
    scripted_llm.add_scenario(
        trigger,
        call("execute", command="touch /workspace/responded_marker"),
        say(echo_last_tool_output()),
    )
    thread_id = (await engine_client.threads.create())["thread_id"]

    first = await stream_run(engine_client, thread_id, input=user_input(f"Touch a marker ({trigger})"))
    assert [a["name"] for a in first.action_requests] == ["execute"], first.describe()

    answer = f"人工回复：命令无需执行 {token}"
    second = await stream_run(engine_client, thread_id, command=resume(respond(answer)))
    assert not second.errors, second.describe()
    assert answer in second.final_ai_text, second.describe()

    assert not (engine_paths.workspace(thread_id) / "responded_marker").exists()
    state = await thread_state(engine_client, thread_id)
    [result] = tool_messages(state, "execute")
    assert content_text(result) == answer
    assert any(answer in r.tool_outputs() for r in scripted_llm.requests_for(trigger) if r.step == 1)
