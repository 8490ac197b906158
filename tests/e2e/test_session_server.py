"""A server in SANDBOX_MODE=session keeps one warm container per thread across turns."""

from __future__ import annotations

import docker
import pytest
from langgraph_sdk.client import LangGraphClient

from sandbox.containers.container_spec import LABEL_MODE, LABEL_THREAD
from tests.support.agent_client import approve, resume, stream_run, user_input
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REMEMBER_PROMPT = "session: leave a marker in /tmp"
RECALL_PROMPT = "session: read the marker back"


def _session_containers(thread_id: str) -> list[dict]:
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        return engine.containers(filters={"label": [f"{LABEL_THREAD}={thread_id}", f"{LABEL_MODE}=session"]})
    finally:
        engine.close()


async def _approved_turn(client: LangGraphClient, thread_id: str, prompt: str) -> str:
    paused = await stream_run(client, thread_id, input=user_input(prompt))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    done = await stream_run(client, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    return done.final_ai_text


async def test_state_outside_the_workspace_survives_between_turns(session_client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    scripted_llm.add_scenario(REMEMBER_PROMPT, call("execute", command="echo warm-container > /tmp/marker"), say("marker left"))
    scripted_llm.add_scenario(RECALL_PROMPT, call("execute", command="cat /tmp/marker"), say(echo_last_tool_output("marker: ")))
    thread_id = (await session_client.threads.create())["thread_id"]

    await _approved_turn(session_client, thread_id, REMEMBER_PROMPT)
    [container] = _session_containers(thread_id)
    answer = await _approved_turn(session_client, thread_id, RECALL_PROMPT)

    # /tmp is not mounted: only the same running container can still hold the marker.
    assert "warm-container" in answer
    assert [c["Id"] for c in _session_containers(thread_id)] == [container["Id"]]
