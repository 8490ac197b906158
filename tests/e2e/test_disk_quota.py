"""Disk quotas through the real server: the reason a write failed reaches the tool result.

Test servers run with `SANDBOX_DISK_QUOTA=64m` (`tests/support/langgraph_server.py`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import CONTRACT_ENGINES
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


BUDGET_ENV = {"SANDBOX_DISK_PER_USER": "256m"}
"""Two threads (a 64 MiB workspace, 16 MiB of artifacts and a 32 MiB snapshot store each) and the memories (16 MiB)
of one user fit; a third thread does not."""


@pytest.fixture(scope="module", params=CONTRACT_ENGINES)
def budget_server(
    request: pytest.FixtureRequest, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """An auth server like the shared one (on each engine), with a per-user disk budget small enough to reach.

    The shared `auth_server`'s contract user creates many threads; a budget this
    small there would refuse them.
    """
    with auth_server_with(request.param, scripted_llm, tmp_path_factory, sandbox_image, **BUDGET_ENV) as server:
        yield server


async def _run_command(client: LangGraphClient, trigger: str) -> str:
    """A new thread that runs one approved command; the tool result's text."""
    thread_id = (await client.threads.create())["thread_id"]
    outcome = await stream_run(client, thread_id, input=user_input(f"Run it ({trigger})"))
    assert outcome.action_requests, outcome.describe()
    outcome = await stream_run(client, thread_id, command=resume(approve()))
    assert not outcome.errors, outcome.describe()
    [result] = tool_messages(await thread_state(client, thread_id), "execute")
    return content_text(result)


async def test_one_user_over_their_disk_budget_does_not_starve_another(budget_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    if os.geteuid() != 0:
        pytest.skip("disk quotas need a root server")
    token = uuid.uuid4().hex[:8]
    trigger = f"e2e-budget-{token}"
    scripted_llm.add_scenario(trigger, call("execute", command=f"echo ran-{token}"), say(echo_last_tool_output()))
    async with budget_server.client(f"hog-{token}") as hog, budget_server.client(f"other-{token}") as other:
        for _ in range(2):
            assert f"ran-{token}" in await _run_command(hog, trigger)
        refused = await _run_command(hog, trigger)
        assert "SANDBOX_DISK_PER_USER" in refused, refused
        assert "240 MiB" in refused, refused
        assert "256 MiB" in refused, refused
        assert f"ran-{token}" not in refused
        # The other user still gets their disks, and a thread of theirs runs.
        assert f"ran-{token}" in await _run_command(other, trigger)
