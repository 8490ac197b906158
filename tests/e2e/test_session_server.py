"""A server in SANDBOX_MODE=session keeps one warm container per thread across turns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest
from langgraph_sdk.client import LangGraphClient

from config.sandbox import SandboxSettings
from sandbox.container_spec import LABEL_MODE, LABEL_THREAD, label_filter, labels_for
from tests.support.agent_client import approve, resume, sdk_client, stream_run, user_input
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REMEMBER_PROMPT = "session: leave a marker in /tmp"
RECALL_PROMPT = "session: read the marker back"


@pytest.fixture(scope="module")
def session_server(
    scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LangGraphServer]:
    env = {
        "ZHIPUAI_API_KEY": "e2e-test-key",
        "ZHIPUAI_API_BASE": scripted_llm.base_url,
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(e2e_paths.workspaces),
        "SANDBOX_SHARED_DIR": str(e2e_paths.shared),
        "SANDBOX_MEMORIES_DIR": str(e2e_paths.memories),
        "SANDBOX_MODE": "session",
    }
    home: Path = tmp_path_factory.mktemp("session-server")
    try:
        with run_langgraph_dev(workdir=home, env=env) as server:
            yield server
    finally:
        _remove_session_containers(e2e_paths)


def _remove_session_containers(e2e_paths: E2EPaths) -> None:
    """Session containers outlive their server by design; the test owns these ones."""
    scope = labels_for(SandboxSettings(workspaces_dir=e2e_paths.workspaces.resolve()), mode="session")
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        for container in engine.containers(all=True, filters=label_filter(scope)):
            engine.remove_container(container["Id"], force=True)
    finally:
        engine.close()


@pytest.fixture
async def session_client(session_server: LangGraphServer) -> AsyncIterator[LangGraphClient]:
    async with sdk_client(session_server.url) as sdk:
        yield sdk


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
