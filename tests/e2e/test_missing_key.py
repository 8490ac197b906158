"""Without ZHIPUAI_API_KEY the server still starts; a run fails and names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agent_client import sdk_client, stream_run, user_input
from tests.support.langgraph_server import E2EPaths, run_langgraph_dev

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


async def test_run_without_api_key_names_the_variable(tmp_path: Path, e2e_paths: E2EPaths, sandbox_image: str) -> None:
    home = tmp_path / "no-key-server"
    home.mkdir()
    env = {
        "ZHIPUAI_API_KEY": "",
        "ZHIPUAI_API_BASE": "http://127.0.0.1:9/v1",  # never reached: the run must stop first
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(e2e_paths.workspaces),
        "SANDBOX_SHARED_DIR": str(e2e_paths.shared),
        "SANDBOX_MEMORIES_DIR": str(e2e_paths.memories),
    }
    with run_langgraph_dev(workdir=home, env=env) as server:
        async with sdk_client(server.url, timeout=60.0) as client:
            thread_id = (await client.threads.create())["thread_id"]
            outcome = await stream_run(client, thread_id, input=user_input("hello"))
        assert server.alive
    assert outcome.errors, outcome.describe()
    assert "ZHIPUAI_API_KEY" in str(outcome.errors), outcome.describe()
