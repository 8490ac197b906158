"""Section 5: the same turns under load on each engine, and on deepagents' unsandboxed `LocalShellBackend`.

The floor is the same graph on `LocalShellBackend` under `langgraph dev`: what
the turns cost with no sandbox at all. Ours runs on `langgraph dev` in session
mode with the warm pool (`SANDBOX_POOL_SIZE`, refilled between levels: the
benchmark waits, untimed, until the pool is full again, as a pool refilled in
the background is between bursts) and without it; Aegra with one process
(PostgreSQL) and Aegra with two processes sharing PostgreSQL and Redis serve the
same graph in session mode without a pool, for information. At each level, N threads at once each do one turn
with two approvals (`turns.agent_turn`: write_file, approve, execute, approve,
answer); levels and engines are interleaved, and every level is repeated
`rounds` times, so the engines see the same machine load. There every measured
turn is a new thread's first, so ours pays a container's take (and, past
`SANDBOX_MAX_CONTAINERS`, an idle container's stop) on every turn; the
conversation level (the top level again, each thread doing several turns in turn,
on ours with the pool and on the floor) shows what a thread's later turns cost,
for information beside the targeted first-turn level. The one user of these
single-user servers runs up to 32 commands and sessions at once: the servers
raise `SANDBOX_MAX_RUNNING_PER_USER` and `SANDBOX_MAX_CONTAINERS_PER_USER` to 64
(`turns.FleetConfig.sandbox_env`).

Each level also reads the CPU seconds the server and Docker spent on it
(`benchmarks.cpu_time`): on a small machine throughput follows CPU per turn, which
varies much less between runs than turns per second.

`runs.wait` is measured apart (a run whose model only replies): Aegra with Redis
learns that a run ended by polling, which sets a floor under every `runs.wait`.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from langgraph_sdk import get_client

from benchmarks.cpu_time import CpuSpent
from benchmarks.pool_state import wait_for_served_pool
from benchmarks.stats import Row, SectionResult, Target, count_row, format_seconds, median, percentile, quotient_row, ratio_row
from benchmarks.turns import AEGRA_1, AEGRA_2, LOCAL_SHELL, POOLED, SESSION, ZERO, LoadResult, ServedBackend, load_level
from tests.support.agent_client import GRAPH_ID, user_input
from tests.support.scripted_llm import ScriptedLLM, say

ENGINE_BACKENDS = (LOCAL_SHELL, POOLED, SESSION, AEGRA_1, AEGRA_2)
"""Section 5's servers; the first is every ratio's floor."""
FLOOR = LOCAL_SHELL
CONVERSATION_BACKENDS = (LOCAL_SHELL, POOLED)
"""The servers the conversation level runs on: the targeted comparison only, to keep the run short."""
LABELS = {
    LOCAL_SHELL: "LocalShellBackend (langgraph dev)",
    POOLED: "ours, langgraph dev + pool",
    SESSION: "ours, langgraph dev",
    AEGRA_1: "ours, Aegra 1 process",
    AEGRA_2: "ours, Aegra 2 processes + Redis",
}
THROUGHPUT_TARGET = Target(0.9, "at_least")
P50_TARGET = Target(1.15)
"""Ours with the pool at the top level, against `LocalShellBackend`; the other servers are for information."""

SERVER_ERROR = re.compile(r'"level": "(error|critical)"|\[(error|critical)\s*\]')
"""An error line in Aegra's JSON log or in `langgraph dev`'s."""

ENGINE_TABLE_HEADER = (
    "| threads | server | turns ok | turns/s | p50 | p95 | errors | leaks | turns/s vs LocalShellBackend | p50 vs LocalShellBackend "
    "| CPU ms/turn: server + Docker | CPU/turn vs LocalShellBackend |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


@dataclass
class EngineLoad:
    """All rounds of one engine at one level, merged."""

    backend: str
    threads: int
    result: LoadResult
    turns: int = 1
    """Turns each thread does in turn: 1 is a new thread's first turn; more is a conversation."""

    @property
    def level(self) -> str:
        """`32` for first turns, `32 x 4 turns` for conversations."""
        return str(self.threads) if self.turns == 1 else f"{self.threads} x {self.turns} turns"

    @property
    def throughput(self) -> float:
        """Completed turns per second of the rounds' summed wall time."""
        return self.result.throughput

    @property
    def cpu_per_turn(self) -> float:
        """CPU seconds (server and Docker) per completed turn."""
        done = len(self.result.latencies)
        return (self.result.cpu.server + self.result.cpu.docker) / done if done else float("nan")


def _merge(results: list[LoadResult]) -> LoadResult:
    first = results[0]
    merged = LoadResult(backend=first.backend, threads=first.threads, turns_per_thread=sum(r.turns_per_thread for r in results))
    for r in results:
        merged.wall_seconds += r.wall_seconds
        merged.cpu = CpuSpent(server=merged.cpu.server + r.cpu.server, docker=merged.cpu.docker + r.cpu.docker)
        merged.latencies.extend(r.latencies)
        merged.errors.extend(r.errors)
        merged.leaks.extend(r.leaks)
    return merged


async def run_levels(
    fleet: dict[str, ServedBackend], llm: ScriptedLLM, *, levels: tuple[int, ...], rounds: int, conversation_turns: int = 1
) -> list[EngineLoad]:
    """Every level on every engine, `rounds` times, engines rotated each round; one turn per thread.

    With `conversation_turns` > 1, each round also runs the top level as conversations
    (each thread does that many turns in turn) on ours with the pool and on the floor:
    a new thread's container costs its first turn only, and there every turn is a first.
    """
    names = [n for n in ENGINE_BACKENDS if n in fleet]
    plan = [(threads, 1) for threads in levels]
    if conversation_turns > 1 and levels:
        plan.append((max(levels), conversation_turns))
    runs: dict[tuple[str, int, int], list[LoadResult]] = {}
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for threads, turns in plan:
            for name in order:
                if turns > 1 and name not in CONVERSATION_BACKENDS:
                    continue
                if POOLED in fleet:  # before every level: a refill must not run inside any server's measurement
                    await wait_for_served_pool(fleet[POOLED])
                result = await load_level(fleet[name], llm, threads=threads, turns_per_thread=turns)
                runs.setdefault((name, threads, turns), []).append(result)
    keys = [(name, threads, turns) for threads, turns in plan for name in names if (name, threads, turns) in runs]
    return [EngineLoad(name, threads, _merge(runs[(name, threads, turns)]), turns) for name, threads, turns in keys]


async def wait_seconds(fleet: dict[str, ServedBackend], llm: ScriptedLLM, *, samples: int) -> dict[str, list[float]]:
    """Seconds `runs.wait` takes for a run whose model only replies, per engine (interleaved, after one warm-up each)."""
    token = f"bench-wait-{uuid.uuid4().hex[:8]}"
    llm.add_scenario(token, say("waited"))
    names = [n for n in ENGINE_BACKENDS if n in fleet]
    clients = {name: get_client(url=fleet[name].server.url) for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for iteration in range(samples + 1):
        for name in names[iteration % len(names) :] + names[: iteration % len(names)]:
            thread_id = (await clients[name].threads.create())["thread_id"]
            started = time.perf_counter()
            result = await clients[name].runs.wait(thread_id, GRAPH_ID, input=user_input(f"reply ({token})"))
            elapsed = time.perf_counter() - started
            if "waited" not in str(result):
                msg = f"runs.wait on {name} returned {str(result)[:200]}"
                raise RuntimeError(msg)
            if iteration:
                seconds[name].append(elapsed)
    return seconds


def engine_section(loads: list[EngineLoad], waits: dict[str, list[float]]) -> SectionResult:
    """Rows (errors, leaks, ratios at the top level, the `runs.wait` floor) and the per-level table."""
    section = SectionResult()
    floor = {(load.threads, load.turns): load for load in loads if load.backend == FLOOR}
    top = max((load.threads for load in loads), default=0)
    for name in dict.fromkeys(load.backend for load in loads):
        mine = [load for load in loads if load.backend == name]
        span = f"{min(m.threads for m in mine)}-{max(m.threads for m in mine)} threads"
        if any(m.turns > 1 for m in mine):
            span += ", conversations included"
        section.rows.append(
            count_row("5", f"{LABELS[name]}: errors, all levels ({span} at once)", sum(len(m.result.errors) for m in mine), target=ZERO)
        )
        section.rows.append(
            count_row("5", f"{LABELS[name]}: cross-thread leaks, all levels ({span})", sum(len(m.result.leaks) for m in mine), target=ZERO)
        )
    for load in loads:
        base = floor.get((load.threads, load.turns))
        if load.backend == FLOOR or base is None or not load.result.latencies or not base.result.latencies:
            continue
        if load.threads != top and load.backend != POOLED:
            continue  # below the top level only ours with the pool gets rows; the table has the rest
        targeted = load.backend == POOLED and load.threads == top and load.turns == 1
        section.rows.append(
            ratio_row(
                "5",
                f"turn p50 at {_level_words(load)}, {LABELS[load.backend]} vs LocalShellBackend",
                load.result.latencies,
                base.result.latencies,
                unit="s",
                target=P50_TARGET if targeted else None,
            )
        )
        section.rows.append(_throughput_row(load, base, THROUGHPUT_TARGET if targeted else None))
        section.rows.append(_cpu_row(load, base))
    if FLOOR in waits:
        for name, values in waits.items():
            if name != FLOOR and values:
                section.rows.append(
                    ratio_row(
                        "5",
                        f"runs.wait of a one-reply run, {LABELS[name]} vs LocalShellBackend",
                        values,
                        waits[FLOOR],
                        unit="s",
                        target=None,
                    )
                )
    section.details.append(ENGINE_TABLE_HEADER)
    section.details.extend(_table_row(load, floor.get((load.threads, load.turns))) for load in loads)
    for load in loads:
        section.details.extend(f"{LABELS[load.backend]} x{load.level} error: {e}" for e in load.result.errors[:3])
        section.details.extend(f"{LABELS[load.backend]} x{load.level} leak: {leak}" for leak in load.result.leaks[:3])
    if waits:
        section.details.append(
            "runs.wait of a one-reply run (median): "
            + ", ".join(f"{LABELS[n]} {format_seconds(median(v), 's')}" for n, v in waits.items() if v)
        )
    return section


def _throughput_row(load: EngineLoad, base: EngineLoad, target: Target | None) -> Row:
    ratio = load.throughput / base.throughput if base.throughput else float("nan")
    measure = f"throughput at {_level_words(load)}, {LABELS[load.backend]} vs LocalShellBackend (turns/s)"
    return quotient_row("5", measure, f"{load.throughput:.2f}/s", f"{base.throughput:.2f}/s", quotient=ratio, target=target)


def _cpu_row(load: EngineLoad, base: EngineLoad) -> Row:
    ratio = load.cpu_per_turn / base.cpu_per_turn if base.cpu_per_turn else float("nan")
    measure = f"CPU per turn (server + Docker) at {_level_words(load)}, {LABELS[load.backend]} vs LocalShellBackend"
    return quotient_row(
        "5", measure, f"{load.cpu_per_turn * 1000:.0f} ms", f"{base.cpu_per_turn * 1000:.0f} ms", quotient=ratio, target=None
    )


def _level_words(load: EngineLoad) -> str:
    """`32 threads` (first turns) or `32 threads, 4 turns each` (conversations), for row names."""
    return f"{load.threads} threads" if load.turns == 1 else f"{load.threads} threads, {load.turns} turns each"


def _table_row(load: EngineLoad, base: EngineLoad | None) -> str:
    r = load.result
    lat = r.latencies
    versus_tps = versus_p50 = versus_cpu = "—"
    if base is not None and load.backend != FLOOR and base.throughput and lat and base.result.latencies:
        versus_tps = f"{load.throughput / base.throughput:.2f}x"
        versus_p50 = f"{median(lat) / median(base.result.latencies):.2f}x"
        versus_cpu = f"{load.cpu_per_turn / base.cpu_per_turn:.2f}x" if base.cpu_per_turn else "—"
    cells = [
        load.level,
        LABELS[load.backend],
        f"{len(lat)}/{load.threads * r.turns_per_thread}",
        f"{load.throughput:.2f}",
        format_seconds(median(lat), "s") if lat else "—",
        format_seconds(percentile(lat, 0.95), "s") if lat else "—",
        str(len(r.errors)),
        str(len(r.leaks)),
        versus_tps,
        versus_p50,
        f"{r.cpu.server / len(lat) * 1000:.0f} + {r.cpu.docker / len(lat) * 1000:.0f}" if lat else "—",
        versus_cpu,
    ]
    return "| " + " | ".join(cells) + " |"


def server_errors(backend: ServedBackend, limit: int = 3) -> list[str]:
    """The first error lines of a server's log (why turns failed, in the server's words)."""
    text = backend.server.log_path.read_text(encoding="utf-8", errors="replace")
    found = [line for line in text.splitlines() if SERVER_ERROR.search(line)]
    return [f"{backend.name} log ({len(found)} error lines): {line[:400]}" for line in found[:limit]]
