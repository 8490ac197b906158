"""Threads get separate workspaces: B sees nothing A wrote."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import Message, ScriptedLLM, call, echo_last_tool_output, message_text, say
from tests.support.scripted_llm import tool_messages as llm_tool_messages

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _all_tool_outputs(messages: list[Message]) -> str:
    return "\n---\n".join(message_text(m) for m in llm_tool_messages(messages))


async def test_threads_do_not_see_each_others_files(
    engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths
) -> None:
    token = uuid.uuid4().hex[:8]
    secret = f"top secret of thread A {token}"
    trigger_a = f"e2e-iso-a-{token}"
    trigger_b = f"e2e-iso-b-{token}"
    scripted_llm.add_scenario(trigger_a, call("write_file", file_path="/workspace/secret_a.txt", content=secret), say("saved"))
    scripted_llm.add_scenario(
        trigger_b,
        call("execute", command="ls -la /workspace"),
        call("ls", path="/workspace"),
        call("read_file", file_path="/workspace/secret_a.txt"),
        say(_all_tool_outputs),
    )

    thread_a = (await engine_client.threads.create())["thread_id"]
    paused = await stream_run(engine_client, thread_a, input=user_input(f"Save a secret ({trigger_a})"))
    assert [a["name"] for a in paused.action_requests] == ["write_file"], paused.describe()
    done = await stream_run(engine_client, thread_a, command=resume(approve()))
    assert not done.errors, done.describe()
    assert (engine_paths.workspace(thread_a) / "secret_a.txt").read_text(encoding="utf-8") == secret

    thread_b = (await engine_client.threads.create())["thread_id"]
    paused = await stream_run(engine_client, thread_b, input=user_input(f"Look around ({trigger_b})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(engine_client, thread_b, command=resume(approve()))
    assert not done.errors, done.describe()
    assert not done.interrupts, f"ls and read_file must not be gated: {done.describe()}"

    state = await thread_state(engine_client, thread_b)
    outputs = {m["name"]: content_text(m) for m in tool_messages(state)}
    assert set(outputs) == {"execute", "ls", "read_file"}, outputs
    assert "secret_a" not in outputs["execute"], outputs["execute"]
    assert "[Command succeeded" in outputs["execute"] or "total" in outputs["execute"], outputs["execute"]
    assert "secret_a" not in outputs["ls"], outputs["ls"]
    assert secret not in outputs["read_file"], outputs["read_file"]
    assert token not in "\n".join(outputs.values())
    assert secret not in done.final_ai_text
    assert not (engine_paths.workspace(thread_b) / "secret_a.txt").exists()


async def test_concurrent_threads_stay_separate(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    tokens = [uuid.uuid4().hex[:8] for _ in range(3)]
    for token in tokens:
        command = f"echo {token} > /workspace/mine.txt && ls /workspace && cat /workspace/mine.txt"
        scripted_llm.add_scenario(f"e2e-parallel-{token}", call("execute", command=command), say(echo_last_tool_output()))

    async def one_thread(token: str) -> tuple[str, str]:
        thread_id = (await engine_client.threads.create())["thread_id"]
        paused = await stream_run(engine_client, thread_id, input=user_input(f"Mark your workspace (e2e-parallel-{token})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        done = await stream_run(engine_client, thread_id, command=resume(approve()))
        assert not done.errors, done.describe()
        return thread_id, done.final_ai_text

    results = await asyncio.gather(*(one_thread(t) for t in tokens))
    for token, (thread_id, final_text) in zip(tokens, results, strict=True):
        assert token in final_text, final_text
        assert not [t for t in tokens if t != token and t in final_text], final_text
        assert (engine_paths.workspace(thread_id) / "mine.txt").read_text(encoding="utf-8") == f"{token}\n"
