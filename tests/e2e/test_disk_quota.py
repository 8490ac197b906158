"""Disk quotas through the real server: the reason a write failed reaches the tool result.

Test servers run with `SANDBOX_DISK_QUOTA=64m` (`tests/support/langgraph_server.py`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_server_says_at_startup_whether_quotas_hold(langgraph_server: LangGraphServer) -> None:
    log = langgraph_server.log_tail(2000)
    if os.geteuid() == 0:
        assert "Workspace disk quotas on: 64 MiB per thread" in log, log
    else:
        assert "WORKSPACE DISK QUOTAS ARE OFF" in log, log


async def test_quota_stops_shell_and_file_tools_and_says_why(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    if os.geteuid() != 0:
        pytest.skip("disk quotas need a root server")
    trigger = f"e2e-quota-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(
        trigger,
        # Fill the disk to the last block (big chunks, then small ones), so even a small
        # write_file is refused: a multi-MiB tool call would only test the model stream.
        call("execute", command="dd if=/dev/zero of=/workspace/big bs=1M count=200; dd if=/dev/zero of=/workspace/rest bs=1k count=200000"),
        call("write_file", file_path="/workspace/notes.txt", content="n" * 20000),
        call("execute", command="rm /workspace/big /workspace/rest && echo freed > /workspace/after.txt && cat /workspace/after.txt"),
        say(echo_last_tool_output()),
    )
    thread_id = (await client.threads.create())["thread_id"]

    outcome = await stream_run(client, thread_id, input=user_input(f"Fill the disk ({trigger})"))
    for _ in range(3):  # execute, write_file, execute: each waits for approval
        assert outcome.action_requests, outcome.describe()
        outcome = await stream_run(client, thread_id, command=resume(approve()))
    assert not outcome.errors, outcome.describe()

    state = await thread_state(client, thread_id)
    first, last = (content_text(m) for m in tool_messages(state, "execute"))
    assert "No space left on device" in first, first
    assert "disk quota of 64 MiB (SANDBOX_DISK_QUOTA)" in first, first
    [written] = tool_messages(state, "write_file")
    assert "disk quota (SANDBOX_DISK_QUOTA) is full" in content_text(written), content_text(written)
    assert "freed" in last, last
    mounted, notes_left, after = await asyncio.to_thread(_look_at, e2e_paths.workspaces / thread_id)
    assert mounted
    assert not notes_left, "a write refused for the quota leaves no partial file"
    assert after == "freed\n"


def _look_at(workspace: Path) -> tuple[bool, bool, str]:
    return os.path.ismount(workspace), (workspace / "notes.txt").exists(), (workspace / "after.txt").read_text()
