"""Unbreakable resumes: a malformed answer is refused with a 4xx before any run exists."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import (
    content_text,
    pending_interrupt_values,
    reject,
    resume,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, calls, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _trigger(name: str) -> str:
    return f"e2e-{name}-{uuid.uuid4().hex[:8]}"


MALFORMED_RESUMES = {
    "unknown decision type": ({"decisions": [{"type": "maybe"}]}, "unknown decision type 'maybe'"),
    "too many decisions": ({"decisions": [{"type": "approve"}, {"type": "approve"}]}, "2 decisions for 1 pending tool calls"),
    "no decisions": ({"decisions": []}, "0 decisions for 1 pending tool calls"),
    "decisions not a list": ({"decisions": {"type": "approve"}}, "'decisions' must be a list"),
    "not a decisions object": ([{"type": "approve"}], "the answer must be {'decisions': [...]}"),
    "edit without args": ({"decisions": [{"type": "edit", "edited_action": {"name": "execute"}}]}, "an edit needs edited_action.args"),
    "edit naming another tool": (
        {"decisions": [{"type": "edit", "edited_action": {"name": "delete", "args": {"file_path": "/workspace/x"}}}]},
        "an edit must keep the tool 'execute'",
    ),
    "edit with bad args": ({"decisions": [{"type": "edit", "edited_action": {"name": "execute", "args": {}}}]}, "command: Field required"),
    "respond without message": ({"decisions": [{"type": "respond"}]}, "a respond decision needs a message"),
}


async def _status_and_detail(coro: Any) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await coro
    return caught.value.response.status_code, caught.value.response.text


async def test_malformed_resumes_are_refused_before_a_run_and_the_approval_stays_answerable(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    trigger = _trigger("bad-resume")
    scripted_llm.add_scenario(trigger, call("execute", command="touch /workspace/ran"), say(echo_last_tool_output()))
    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_run(client, thread_id, input=user_input(f"touch a marker ({trigger})"))
    assert [a["name"] for a in first.action_requests] == ["execute"], first.describe()
    runs_before = await client.runs.list(thread_id)
    state_before = await thread_state(client, thread_id)

    for label, (bad, expected) in MALFORMED_RESUMES.items():
        for create in (client.runs.create, client.runs.wait):
            status, detail = await _status_and_detail(create(thread_id, "agent", command={"resume": bad}))
            assert 400 <= status < 500, (label, status, detail)
            assert expected in detail, (label, detail)
        # Streaming endpoint too: the error arrives as the HTTP status, before any event.
        status, detail = await _status_and_detail(stream_run(client, thread_id, command={"resume": bad}))
        assert 400 <= status < 500, (label, status, detail)

    # Nothing ran, nothing was stored: same runs, same pending approval, no marker.
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == [r["run_id"] for r in runs_before]
    state_after = await thread_state(client, thread_id)
    assert pending_interrupt_values(state_after) == pending_interrupt_values(state_before)
    assert state_after["checkpoint"] == state_before["checkpoint"]
    assert not (e2e_paths.workspace(thread_id) / "ran").exists()

    # The next valid decision works.
    second = await stream_run(client, thread_id, command=resume(reject("not now")))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()
    [result] = tool_messages(await thread_state(client, thread_id), "execute")
    assert "not now" in content_text(result)
    assert not (e2e_paths.workspace(thread_id) / "ran").exists()


async def test_each_decision_of_a_batch_and_answers_by_id_are_checked(client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    """Two gated calls: the second decision is malformed; then an unknown interrupt id; then a valid answer by id.

    (Every gated tool here allows all four decision types; a type a tool does not
    allow is covered by tests/agent/test_decisions.py.)
    """
    trigger = _trigger("bad-resume-many")
    scripted_llm.add_scenario(
        trigger,
        calls(("execute", {"command": "true"}), ("delete", {"file_path": "/workspace/x"})),
        say("done"),
    )
    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_run(client, thread_id, input=user_input(f"two calls ({trigger})"))
    assert [a["name"] for a in first.action_requests] == ["execute", "delete"], first.describe()
    [interrupt] = first.interrupts

    bad_second = {"decisions": [{"type": "approve"}, {"type": "edit", "edited_action": {"name": "delete"}}]}
    status, detail = await _status_and_detail(client.runs.create(thread_id, "agent", command={"resume": bad_second}))
    assert status == 422, detail
    assert "decision 1 (delete)" in detail

    unknown_id = {"0" * 32: {"decisions": [{"type": "approve"}, {"type": "approve"}]}}
    status, detail = await _status_and_detail(client.runs.create(thread_id, "agent", command={"resume": unknown_id}))
    assert status == 409, detail

    by_id = {interrupt["id"]: {"decisions": [{"type": "reject"}, {"type": "reject"}]}}
    second = await stream_run(client, thread_id, command={"resume": by_id})
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()


async def test_resume_without_a_pending_approval_is_refused(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    status, detail = await _status_and_detail(client.runs.create(thread_id, "agent", command={"resume": {"decisions": []}}))
    assert status == 409, detail
    assert "nothing on this thread is waiting" in detail


async def test_v2_commands_route_is_checked_too(
    client: LangGraphClient, scripted_llm: ScriptedLLM, langgraph_server: LangGraphServer
) -> None:
    """`POST /threads/{id}/commands` (`input.respond`) creates its run the same way, so the same handler refuses it."""
    trigger = _trigger("bad-resume-v2")
    scripted_llm.add_scenario(trigger, call("execute", command="true"), say("done"))
    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_run(client, thread_id, input=user_input(f"run true ({trigger})"))
    [interrupt] = first.interrupts
    runs_before = [r["run_id"] for r in await client.runs.list(thread_id)]

    bad = {"decisions": [{"type": "maybe"}]}
    command = {"id": 1, "method": "input.respond", "params": {"interrupt_id": interrupt["id"], "response": bad}}
    async with httpx.AsyncClient(base_url=langgraph_server.url, timeout=60) as http:
        answer = await http.post(f"/threads/{thread_id}/commands", json=command)
    body = answer.json()
    # The v2 protocol reports command failures in its envelope (HTTP 200, type "error").
    assert body["type"] == "error", body
    assert "unknown decision type 'maybe'" in body["message"], body
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == runs_before

    second = await stream_run(client, thread_id, command=resume(reject()))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()
