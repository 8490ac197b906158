"""v2 thread streams (`POST /threads/{id}/stream/events`) opened before their thread exists, on every engine.

The SDK's `client.threads.stream()` mints the thread id on the client and may
subscribe before `run.start` creates the thread. Such a subscription waits for
the thread and then gets every event of the caller's runs, in order, exactly
once; a subscription to a thread that turns out to be another user's gets a
clear error frame and none of that user's events; one to another user's
existing thread is refused with 404 before any stream opens. Late subscribers
and reconnects (`since`) replay from the thread's buffer.

Each test proves its precondition instead of relying on timing: the
subscription is established (response headers received) while the server still
answers 404 for the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.stream.transport.base import EventStreamHandle
from langgraph_sdk.stream.transport.http import ProtocolSseTransport
from langgraph_sdk.stream.transport.ws import ProtocolWebSocketTransport

from tests.support.agent_client import GRAPH_ID, RUN_TIMEOUT, approve, user_input
from tests.support.e2e_servers import CONTRACT_USER, AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

LINES = "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.3; done"
"""Six lines 0.3 s apart: several live-output events (they are coalesced every 0.1 s)."""
EXPECTED = "".join(f"line {i}\n" for i in range(1, 7))
CHANNELS = ["tools", "lifecycle"]


@dataclass
class Subscription:
    """One SSE subscription's events, as received."""

    handle: EventStreamHandle
    events: list[dict[str, Any]] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def tool_events(self, kind: str) -> list[dict[str, Any]]:
        """The `tools` channel's events of one kind (`tool-output-delta`, `tool-finished`, ...)."""
        return [e for e in self.events if e.get("method") == "tools" and _data(e).get("event") == kind]

    def deltas(self) -> str:
        """The live output, joined in the order received."""
        return "".join(_data(e)["delta"] for e in self.tool_events("tool-output-delta"))

    def errors(self) -> list[dict[str, Any]]:
        """Unsolicited protocol error frames (`{"type": "error", "id": null}`)."""
        return [e for e in self.events if e.get("type") == "error" and e.get("id") is None]


def _data(event: dict[str, Any]) -> dict[str, Any]:
    return (event.get("params") or {}).get("data") or {}


@contextlib.asynccontextmanager
async def subscribe(sdk: LangGraphClient, thread_id: str, *, websocket: bool = False, **params: Any) -> AsyncIterator[Subscription]:
    """Open a v2 subscription (SSE, or the SDK's WebSocket transport) and collect its events in the background until closed."""
    transport: ProtocolSseTransport | ProtocolWebSocketTransport
    if websocket:
        headers = {"authorization": sdk.http.client.headers["authorization"]}
        transport = ProtocolWebSocketTransport(client=sdk.http.client, thread_id=thread_id, headers=headers)
    else:
        transport = ProtocolSseTransport(client=sdk.http.client, thread_id=thread_id)
    handle = transport.open_event_stream({"channels": CHANNELS, **params})
    sub = Subscription(handle)

    async def collect() -> None:
        async for event in handle.events:
            sub.events.append(event)
            if event.get("method") == "tools" and _data(event).get("event") == "tool-finished":
                sub.finished.set()
        sub.finished.set()

    collector = asyncio.create_task(collect())
    try:
        await asyncio.wait_for(asyncio.shield(handle.ready), 30)
        yield sub
    finally:
        await handle.close()
        await transport.close()
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector


async def assert_no_thread(sdk: LangGraphClient, thread_id: str) -> None:
    """The precondition: the server has no such thread (for this caller)."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await sdk.threads.get(thread_id)
    assert refused.value.response.status_code == 404


async def run_one_approved_command(sdk: LangGraphClient, llm: ScriptedLLM, thread_id: str) -> None:
    """Start a turn on `thread_id` (creating the thread), approve its `execute`, and wait for the run to end."""
    trigger = f"v2-early-{uuid.uuid4().hex[:8]}"
    llm.add_scenario(trigger, call("execute", command=LINES), say(echo_last_tool_output("done: ")))
    async with sdk.threads.stream(thread_id=thread_id, assistant_id=GRAPH_ID) as thread:
        await thread.run.start(input=user_input(f"run it ({trigger})"))
        async with asyncio.timeout(RUN_TIMEOUT):
            while not thread.interrupted:  # noqa: ASYNC110 - the SDK offers a flag, not an event
                await asyncio.sleep(0.05)
        await thread.run.respond({"decisions": [approve()]})
    async with asyncio.timeout(RUN_TIMEOUT):
        await sdk.runs.join(thread_id, (await sdk.runs.list(thread_id, limit=1))[0]["run_id"])


def assert_each_once_in_order(sub: Subscription) -> None:
    """Every delta exactly once and in order; the stream's own ids and sequence numbers neither repeat nor go back."""
    assert sub.deltas() == EXPECTED, sub.events
    ids = [e["event_id"] for e in sub.events if e.get("event_id") is not None]
    assert len(ids) == len(set(ids)), ids
    seqs = [e["seq"] for e in sub.events if isinstance(e.get("seq"), int)]
    assert seqs == sorted(set(seqs)), seqs
    assert len(sub.tool_events("tool-finished")) == 1


async def test_a_subscription_opened_before_its_thread_gets_every_delta_once(
    engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id = str(uuid.uuid4())
    async with subscribe(engine_client, thread_id) as early:
        await assert_no_thread(engine_client, thread_id)
        await run_one_approved_command(engine_client, scripted_llm, thread_id)
        async with asyncio.timeout(30):
            await early.finished.wait()
    assert not early.errors(), early.events
    assert_each_once_in_order(early)

    # A late subscriber replays the whole turn; a reconnect from a seen `seq` gets only what followed it.
    async with subscribe(engine_client, thread_id) as late:
        async with asyncio.timeout(30):
            await late.finished.wait()
    assert_each_once_in_order(late)
    first, *rest = late.tool_events("tool-output-delta")
    assert rest, late.events
    async with subscribe(engine_client, thread_id, since=first["seq"]) as reconnect:
        async with asyncio.timeout(30):
            await reconnect.finished.wait()
    assert reconnect.deltas() == EXPECTED.removeprefix(_data(first)["delta"]), reconnect.events
    assert all(e["seq"] > first["seq"] for e in reconnect.events if isinstance(e.get("seq"), int))


async def test_a_websocket_subscription_opened_before_its_thread_gets_every_delta_once(
    auth_server: AuthServer, scripted_llm: ScriptedLLM
) -> None:
    """The SDK's WebSocket transport (`langgraph dev` only: Aegra serves v2 over SSE)."""
    thread_id = str(uuid.uuid4())
    async with auth_server.client(CONTRACT_USER) as sdk, subscribe(sdk, thread_id, websocket=True) as early:
        await assert_no_thread(sdk, thread_id)
        await run_one_approved_command(sdk, scripted_llm, thread_id)
        async with asyncio.timeout(30):
            await early.finished.wait()
    assert_each_once_in_order(early)


async def test_an_early_subscription_to_another_users_thread_sees_none_of_it(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id = str(uuid.uuid4())
    async with engine_server.client(f"{CONTRACT_USER}-intruder") as intruder, subscribe(intruder, thread_id) as spying:
        await assert_no_thread(intruder, thread_id)
        await run_one_approved_command(engine_client, scripted_llm, thread_id)
        # The owner's turn is over; whatever the intruder's stream was going to leak, it has by now.
        async with subscribe(engine_client, thread_id) as owners:
            async with asyncio.timeout(30):
                await owners.finished.wait()
        assert owners.deltas() == EXPECTED
        await asyncio.sleep(1)
    assert not [e for e in spying.events if e.get("method") in {"tools", "messages", "values", "updates"}], spying.events


async def test_a_subscription_to_another_users_existing_thread_is_refused(
    engine_server: AuthServer, engine_client: LangGraphClient
) -> None:
    thread_id = (await engine_client.threads.create())["thread_id"]
    async with engine_server.client(f"{CONTRACT_USER}-intruder") as intruder:
        transport = ProtocolSseTransport(client=intruder.http.client, thread_id=thread_id)
        handle = transport.open_event_stream({"channels": CHANNELS})
        try:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                await asyncio.wait_for(handle.ready, 30)
            assert refused.value.response.status_code == 404
        finally:
            await handle.close()
            await transport.close()
