"""Section 6: live `execute` output through a real `langgraph dev`, seen from an SDK client.

First-chunk latency: the command prints lines stamped with the wall clock inside
the sandbox (`date +%s.%N`; the container shares the host's clock), and the client
stamps each `execute_output` custom event on arrival; the latency of an event is
arrival minus the stamp of the first line it carries. Each line is printed after
a pause longer than the coalescing interval, so every event is a "first chunk".

Cost of streaming: the same agent turn (run, approve `execute`, answer) on the
session-mode server with live output (client streams `custom` too) and on one
serving `benchmarks/quiet_graph.py` (no live output), interleaved.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from agent.live_output import EXECUTE_OUTPUT_EVENT
from benchmarks.stats import Row, SectionResult, Target, ainterleaved, format_seconds, median, percentile, ratio_row
from benchmarks.turns import (
    ANSWER_PREFIX,
    EPHEMERAL,
    QUIET_SESSION,
    SESSION,
    TURN_TIMEOUT,
    ServedBackend,
    TurnError,
    new_thread,
    run_exec_seconds,
)
from tests.support.agent_client import GRAPH_ID, approve, resume, stream_run, user_input
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

LINES_PER_COMMAND = 5
LINE_PAUSE_SECONDS = 0.3
STAMPED_LINES = f"for i in $(seq 1 {LINES_PER_COMMAND}); do date +%s.%N; sleep {LINE_PAUSE_SECONDS}; done"
WORK_COMMAND = "for i in $(seq 1 20); do echo step $i; sleep 0.05; done; seq 1 5000 | tail -n 3"
"""A command with both trickling and bursty output, for the cost-of-streaming turn."""

LATENCY_TARGET = Target(0.25)
COST_TARGET = Target(1.05)


async def _paused_at_execute(client: LangGraphClient, llm: ScriptedLLM, thread_id: str, command: str) -> None:
    token = f"live-bench-{uuid.uuid4().hex[:12]}"
    llm.add_scenario(token, call("execute", command=command), say(echo_last_tool_output(ANSWER_PREFIX)))
    paused = await stream_run(client, thread_id, input=user_input(f"run it ({token})"))
    if paused.errors or [a.get("name") for a in paused.action_requests] != ["execute"]:
        msg = f"expected an execute interrupt, got {paused.action_requests} errors {paused.errors}"
        raise TurnError(msg)


async def _approve_streaming(client: LangGraphClient, thread_id: str, stream_mode: list[str]) -> list[tuple[float, dict[str, Any]]]:
    """Approve the pending `execute`; return each live-output event's payload with its wall-clock arrival."""
    arrivals: list[tuple[float, dict[str, Any]]] = []
    async for part in client.runs.stream(thread_id, GRAPH_ID, command=resume(approve()), stream_mode=stream_mode):  # type: ignore[call-overload]
        if part.event == "error":
            msg = f"run failed: {part.data}"
            raise TurnError(msg)
        if part.event == "custom" and isinstance(part.data, dict) and part.data.get("type") == EXECUTE_OUTPUT_EVENT:
            arrivals.append((time.time(), part.data))
    return arrivals


async def first_chunk_latencies(backend: ServedBackend, llm: ScriptedLLM, *, commands: int) -> list[float]:
    """Seconds from a line's `date` in the sandbox to the SDK client holding it, one per event."""
    client = get_client(url=backend.server.url)
    thread_id = await new_thread(client)
    latencies: list[float] = []
    for _ in range(commands):
        async with asyncio.timeout(TURN_TIMEOUT):
            await _paused_at_execute(client, llm, thread_id, STAMPED_LINES)
            for arrived, data in await _approve_streaming(client, thread_id, ["custom", "updates"]):
                stamps = [float(line) for line in str(data["chunk"]).split() if line.replace(".", "", 1).isdigit()]
                if stamps:
                    latencies.append(arrived - stamps[0])
    if len(latencies) < commands * (LINES_PER_COMMAND - 1):
        msg = f"expected about {LINES_PER_COMMAND} live events per command, got {len(latencies)} for {commands} commands"
        raise TurnError(msg)
    return latencies


class _Turn:
    """One agent turn with one approved `execute`, on a fixed thread of one server."""

    def __init__(self, backend: ServedBackend, llm: ScriptedLLM, thread_id: str, stream_mode: list[str]) -> None:
        self.client = get_client(url=backend.server.url)
        self.backend, self.llm, self.thread_id, self.stream_mode = backend, llm, thread_id, stream_mode
        self.live_events = 0

    async def __call__(self) -> None:
        async with asyncio.timeout(TURN_TIMEOUT):
            await _paused_at_execute(self.client, self.llm, self.thread_id, WORK_COMMAND)
            self.live_events += len(await _approve_streaming(self.client, self.thread_id, self.stream_mode))


def _per_turn(runs: list[float]) -> list[float]:
    """Sum a thread's run times in pairs: a turn here is one run to the interrupt and one resume."""
    return [sum(runs[i : i + 2]) for i in range(0, len(runs) - 1, 2)]


def _latency_rows(mode: str, latencies: list[float]) -> list[Row]:
    p50, p95 = median(latencies), percentile(latencies, 0.95)
    return [
        Row("6", f"live output: first-chunk latency p50, {mode} (sandbox print → SDK client)", format_seconds(p50, "ms"), "—", p50,
            format_seconds(p50, "ms"), LATENCY_TARGET),
        Row("6", f"live output: first-chunk latency p95, {mode}", format_seconds(p95, "ms"), "—", p95, format_seconds(p95, "ms"), None),
    ]  # fmt: skip


async def bench_live(fleet: dict[str, ServedBackend], llm: ScriptedLLM, *, commands: int, turns: int, warmup: int) -> SectionResult:
    """Section 6: latency in both modes, then the interleaved cost of streaming in session mode."""
    result = SectionResult()
    for name, mode in ((SESSION, "session"), (EPHEMERAL, "ephemeral")):
        if name in fleet:
            latencies = await first_chunk_latencies(fleet[name], llm, commands=commands)
            result.rows.extend(_latency_rows(mode, latencies))
            result.details.append(
                f"{mode}: {len(latencies)} events from {commands} commands; min {format_seconds(min(latencies), 'ms')}, "
                f"max {format_seconds(max(latencies), 'ms')}"
            )
    if SESSION in fleet and QUIET_SESSION in fleet:
        live = _Turn(fleet[SESSION], llm, await new_thread(get_client(url=fleet[SESSION].server.url)), ["custom", "updates", "messages"])
        quiet_client = get_client(url=fleet[QUIET_SESSION].server.url)
        quiet = _Turn(fleet[QUIET_SESSION], llm, await new_thread(quiet_client), ["updates", "messages"])
        samples = await ainterleaved({SESSION: live, QUIET_SESSION: quiet}, iterations=turns, warmup=warmup)
        await asyncio.sleep(1.0)  # let the servers log their last runs
        result.rows.append(
            ratio_row("6", "agent turn with live output vs without (session)", samples[SESSION], samples[QUIET_SESSION], unit="s",
                      target=COST_TARGET)
        )  # fmt: skip
        executed = [_per_turn(run_exec_seconds(t.backend.server, t.thread_id))[-turns:] for t in (live, quiet)]
        result.rows.append(ratio_row("6", "same turns, server-side run execution only", *executed, unit="s", target=None))
        result.details.append(
            f"cost: {turns} interleaved turns each (run + approved execute of `{WORK_COMMAND}`); "
            f"{live.live_events} live events reached the streaming client, {quiet.live_events} the other"
        )
    return result
