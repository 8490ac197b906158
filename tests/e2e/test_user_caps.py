"""Per-user caps through the real server: a command past the cap gets a tool result that says so.

The server runs single-user (every run belongs to the fixed local user) with
`SANDBOX_MAX_RUNNING_PER_USER=1`: while one thread's slow command runs, another
thread's command is refused with a message naming the setting, and runs again
once the first has finished. Two users are covered by `tests/sandbox/test_user_caps.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent_client import approve, content_text, resume, sdk_client, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture(scope="module")
def capped_server(
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
        "SANDBOX_MAX_RUNNING_PER_USER": "1",
    }
    home: Path = tmp_path_factory.mktemp("capped-server")
    with run_langgraph_dev(workdir=home, env=env) as server:
        yield server


async def test_command_past_the_running_cap_is_refused_with_the_reason(
    capped_server: LangGraphServer, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    token = uuid.uuid4().hex[:8]
    slow_trigger, quick_trigger, later_trigger = f"e2e-slow-{token}", f"e2e-quick-{token}", f"e2e-later-{token}"
    scripted_llm.add_scenario(
        slow_trigger,
        call("execute", command=f"touch /workspace/started; sleep 12; echo slow-{token}"),
        say(echo_last_tool_output()),
    )
    scripted_llm.add_scenario(quick_trigger, call("execute", command=f"echo quick-{token}"), say(echo_last_tool_output()))
    scripted_llm.add_scenario(later_trigger, call("execute", command=f"echo later-{token}"), say(echo_last_tool_output()))

    async with sdk_client(capped_server.url) as client:
        slow_thread = (await client.threads.create())["thread_id"]
        quick_thread = (await client.threads.create())["thread_id"]
        await stream_run(client, slow_thread, input=user_input(f"Run the slow one ({slow_trigger})"))
        await stream_run(client, quick_thread, input=user_input(f"Run the quick one ({quick_trigger})"))

        slow = asyncio.create_task(stream_run(client, slow_thread, command=resume(approve())))
        started = e2e_paths.workspace(slow_thread) / "started"
        for _ in range(300):
            if await asyncio.to_thread(started.exists):
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(started.exists), "the slow command never started"

        refused = await stream_run(client, quick_thread, command=resume(approve()))
        assert not refused.errors, refused.describe()
        [result] = tool_messages(await thread_state(client, quick_thread), "execute")
        text = content_text(result)
        assert "SANDBOX_MAX_RUNNING_PER_USER=1" in text, text
        assert f"quick-{token}" not in text

        done = await slow
        assert f"slow-{token}" in done.final_ai_text, done.describe()

        # The slot is free again: the next command runs.
        later_thread = (await client.threads.create())["thread_id"]
        await stream_run(client, later_thread, input=user_input(f"Run it now ({later_trigger})"))
        later = await stream_run(client, later_thread, command=resume(approve()))
        assert f"later-{token}" in later.final_ai_text, later.describe()
