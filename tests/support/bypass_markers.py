"""A thread paused on an approval that would leave a marker file, and the check that no marker appeared.

The approval-bypass and fork tests try routes that would reach the tools node
without a decision; the marker in the workspace is the proof: it exists only if
the gated command ran.
"""

from __future__ import annotations

import uuid

from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import stream_run, user_input
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, say


async def paused_thread(client: LangGraphClient, scripted_llm: ScriptedLLM) -> tuple[str, str]:
    """A thread paused on an approval for `touch /workspace/<marker>`; returns (thread id, marker)."""
    marker = f"pending-{uuid.uuid4().hex[:8]}"
    trigger = f"e2e-bypass-{marker}"
    scripted_llm.add_scenario(trigger, call("execute", command=f"touch /workspace/{marker}"), say("done"))
    thread_id = (await client.threads.create())["thread_id"]
    first = await stream_run(client, thread_id, input=user_input(f"make a marker ({trigger})"))
    assert [a["name"] for a in first.action_requests] == ["execute"], first.describe()
    return thread_id, marker


def markers_in(paths: E2EPaths, marker: str) -> list[str]:
    """Every workspace file (any thread, copies included) that a bypassing command created."""
    return sorted(str(p.relative_to(paths.workspaces)) for p in paths.workspaces.glob(f"*/*{marker}*"))
