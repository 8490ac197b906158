"""Branches (runs started from an earlier checkpoint) never skip the approval, and never reach another user's thread.

The web client edits a past message by starting a run from the checkpoint
before it (`checkpoint_id`). The same route is open to any SDK caller, with
any checkpoint of the thread: the one paused on an approval, the one where the
model had just asked for the call, or one that does not exist. None of them may
run a gated command without a reviewer's decision; the marker in the workspace
is the proof (it exists only if the command ran).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import pending_interrupt_values, thread_state, user_input
from tests.support.bypass_markers import markers_in, paused_thread
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRAPH_ID = "agent"


async def paused(client: LangGraphClient, scripted_llm: ScriptedLLM) -> tuple[str, str, str]:
    """The bypass suite's paused thread (`touch /workspace/<marker>`); returns (thread id, marker, its trigger)."""
    thread_id, marker = await paused_thread(client, scripted_llm)
    return thread_id, marker, f"e2e-bypass-{marker}"


async def outcome(attempt: Any) -> str:
    """`refused <status>`, `failed: <error>` (the run started and ended in an error) or `ran`.

    A 5xx fails the test (bad input gets a clear 4xx).
    """
    status, text = 0, ""
    try:
        await attempt
    except httpx.HTTPStatusError as exc:
        status, text = exc.response.status_code, exc.response.text
    except Exception as exc:  # `runs.wait` raises a plain Exception for a run that failed
        return f"failed: {exc}"
    assert status < 500, f"server error {status}: {text}"
    return f"refused {status}" if status else "ran"


async def test_no_fork_of_a_paused_thread_runs_the_gated_command(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id, marker, trigger = await paused(engine_client, scripted_llm)
    history = await engine_client.threads.get_history(thread_id, limit=50)
    checkpoints = [state["checkpoint"]["checkpoint_id"] for state in history]
    assert len(checkpoints) >= 3, history

    outcomes: dict[str, str] = {}
    for index, checkpoint_id in enumerate(checkpoints):
        attempts = {
            "rerun": lambda c=checkpoint_id: engine_client.runs.wait(thread_id, GRAPH_ID, input=None, checkpoint_id=c),
            "goto tools": lambda c=checkpoint_id: engine_client.runs.wait(thread_id, GRAPH_ID, command={"goto": "tools"}, checkpoint_id=c),
            "new input": lambda c=checkpoint_id: engine_client.runs.wait(
                thread_id, GRAPH_ID, input=user_input(f"again ({trigger})"), checkpoint_id=c
            ),
        }
        for what, attempt in attempts.items():
            outcomes[f"{index} {what}"] = await outcome(attempt())
            assert markers_in(engine_server.paths, marker) == [], f"checkpoint {index}, {what}: the command ran without approval"
    for crafted in ({"goto": "tools"}, None):
        attempt = engine_client.runs.wait(thread_id, GRAPH_ID, command=crafted, input=None, checkpoint_id=str(uuid.uuid4()))
        outcomes[f"crafted {crafted}"] = await outcome(attempt)
        assert markers_in(engine_server.paths, marker) == [], f"crafted checkpoint, {crafted}: the command ran without approval"

    # Whatever the forks did, the thread's latest state still waits for a decision on the command.
    pending = pending_interrupt_values(await thread_state(engine_client, thread_id))
    assert [a["name"] for v in pending for a in v["action_requests"]] == ["execute"], (outcomes, pending)
    assert markers_in(engine_server.paths, marker) == []


async def test_another_user_cannot_fork_or_read_the_history_of_a_thread(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    async with engine_server.client("user-a") as alice, engine_server.client("user-b") as bob:
        thread_id, marker, trigger = await paused(alice, scripted_llm)
        [*_, oldest] = await alice.threads.get_history(thread_id, limit=50)
        checkpoint_id = oldest["checkpoint"]["checkpoint_id"]
        # Refused as a thread that does not exist; a jump is refused (422) before the thread is even looked at.
        for what, attempt, allowed in [
            ("history", bob.threads.get_history(thread_id), {"refused 403", "refused 404"}),
            (
                "fork with input",
                bob.runs.wait(thread_id, GRAPH_ID, input=user_input(f"mine ({trigger})"), checkpoint_id=checkpoint_id),
                {"refused 403", "refused 404"},
            ),
            (
                "fork goto tools",
                bob.runs.wait(thread_id, GRAPH_ID, command={"goto": "tools"}, checkpoint_id=checkpoint_id),
                {"refused 403", "refused 404", "refused 422"},
            ),
        ]:
            result = await outcome(attempt)
            assert result in allowed, f"{what}: {result}"
        assert markers_in(engine_server.paths, marker) == []


async def test_a_fork_from_an_unknown_checkpoint_is_refused(engine_client: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    thread_id, _, _ = await paused(engine_client, scripted_llm)
    result = await outcome(engine_client.runs.wait(thread_id, GRAPH_ID, input=None, checkpoint_id=str(uuid.uuid4())))
    assert result.startswith("refused 4"), result
