"""Run every benchmark and print one markdown table of medians and ratios.

    uv run python -m benchmarks.run            # full run (about 10 minutes on 2 cores)
    uv run python -m benchmarks.run --quick    # short run (under 3 minutes)
    uv run python -m benchmarks.run --only micro|turn|concurrency|live|responsiveness|snapshots
    uv run python -m benchmarks.run --only concurrency --engine-levels 32 --engine-rounds 4 --engine-turns 4

Sections: (1) `execute` in ephemeral mode vs a raw docker-py container round trip,
(2) `execute` in session mode vs a raw `docker exec`, (3) file tools vs deepagents'
`FilesystemBackend`, (4) one agent turn through `langgraph dev` vs the same graph
on `LocalShellBackend`, (5) 1-32 concurrent threads on `langgraph dev`, Aegra with one
process and Aegra with two processes and Redis (and the top level as 4-turn
conversations on ours with the pool and `LocalShellBackend`), (6) live `execute` output:
first-chunk latency to an SDK client and the cost of streaming, (7) another user's
`threads.search`, file listing and `/ok` latency while one user runs as many long commands
as their caps allow, on an auth-enabled server started with scripts/start.sh's flags, (8) workspace
snapshots on 1,000 files / 50 MB (after a file tool, after `execute`, restore). Each ratio compares medians
measured interleaved in this run, because this machine is too noisy for absolute
numbers to carry over. Everything talks to 127.0.0.1 (and the local Docker
Engine), and every container and temp dir is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import NotFound

from benchmarks.engines import engine_section, run_levels, server_errors, wait_seconds
from benchmarks.first_command import bench_first_command
from benchmarks.live import bench_live
from benchmarks.micro import BENCH_LABEL, bench_execute_ephemeral, bench_execute_session, bench_file_ops
from benchmarks.responsiveness import WORKSPACES as RESPONSIVENESS_WORKSPACES
from benchmarks.responsiveness import bench_responsiveness
from benchmarks.snapshots import SECTION as SNAPSHOTS_SECTION
from benchmarks.snapshots import bench_snapshots
from benchmarks.stats import Row, SectionResult, render_table
from benchmarks.turns import (
    AEGRA_1,
    AEGRA_2,
    EPHEMERAL,
    LOAD_TABLE_HEADER,
    LOCAL_SHELL,
    POOLED,
    QUIET_SESSION,
    QUIET_WORKSPACES,
    SESSION,
    FleetConfig,
    LoadResult,
    ServedBackend,
    bench_turns,
    load_level,
    load_rows,
    serve_fleet,
    served_workspaces_dir,
)
from sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_MODE, LABEL_SCOPE, scope_of
from sandbox.containers.removal import remove_all_workspaces
from tests.support.scripted_llm import ScriptedLLM

DEFAULT_IMAGE = "deepagents-sandbox:offline"
SECTIONS = ("micro", "turn", "concurrency", "live", "responsiveness", "snapshots")
SERVED_SECTIONS = frozenset({"turn", "concurrency", "live"})
"""Sections that share one fleet of single-user servers; section 7 starts its own."""


@dataclass(frozen=True)
class Plan:
    """Iteration counts and the time budget of one run."""

    execute_ephemeral: int
    execute_session: int
    execute_warmup: int
    first_commands: int
    """Section 2b: first commands of new threads, with and without the pool, each."""
    file_ops: int
    file_warmup: int
    turns: int
    """Section 4: timed turns per server. Its server-side row is a median of per-turn sums of three runs of
    40-60 ms each; with 10 it moved by 10% between runs of the same code, so a full run takes 20."""
    turn_warmup: int
    levels: tuple[int, ...]
    turns_per_thread: int
    engine_levels: tuple[int, ...]
    """Section 5: concurrent threads on each engine, one turn each."""
    engine_rounds: int
    """Section 5: how often each level runs on each engine (interleaved)."""
    engine_conversation_turns: int
    """Section 5: the top level again with this many turns per thread (ours with the pool and the floor); 1 skips it."""
    wait_samples: int
    """Section 5: `runs.wait` samples per engine."""
    live_commands: int
    live_turns: int
    responsiveness_seconds: float
    """Section 7: how long the other user samples while one user's long commands run."""
    budget_seconds: float
    """Soft limit: optional work (ephemeral-mode concurrency) is skipped past it."""


FULL = Plan(
    execute_ephemeral=30,
    execute_session=60,
    execute_warmup=3,
    first_commands=30,
    file_ops=200,
    file_warmup=10,
    turns=20,
    turn_warmup=2,
    levels=(1, 4, 16, 32),
    turns_per_thread=3,
    engine_levels=(1, 4, 8, 16, 32),
    engine_rounds=3,
    engine_conversation_turns=4,
    wait_samples=8,
    live_commands=12,
    live_turns=10,
    responsiveness_seconds=30,
    budget_seconds=13 * 60,
)
QUICK = Plan(
    execute_ephemeral=8,
    execute_session=15,
    execute_warmup=2,
    first_commands=8,
    file_ops=30,
    file_warmup=3,
    turns=3,
    turn_warmup=1,
    levels=(1, 4, 16, 32),
    turns_per_thread=1,
    engine_levels=(1, 8, 32),
    engine_rounds=1,
    engine_conversation_turns=1,
    wait_samples=3,
    live_commands=4,
    live_turns=3,
    responsiveness_seconds=10,
    budget_seconds=150,
)


class Clock:
    """Elapsed time since start, for progress lines and the budget."""

    def __init__(self, budget_seconds: float) -> None:
        self.started = time.monotonic()
        self.budget = budget_seconds

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float:
        """Seconds left in the budget (negative when over)."""
        return self.budget - self.elapsed

    def log(self, message: str) -> None:
        """Progress goes to stderr, so stdout holds only the report."""
        print(f"[{self.elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


def run_section(clock: Clock, title: str, failures: list[str], body: Callable[[], SectionResult]) -> SectionResult:
    """Run one section; a failure is reported (with its traceback on stderr) and the run goes on."""
    clock.log(f"{title} ...")
    try:
        result = body()
    except Exception as exc:
        traceback.print_exc()
        failures.append(f"{title}: {type(exc).__name__}: {exc}")
        return SectionResult()
    clock.log(f"{title} done")
    return result


# --------------------------------------------------------------------------- #
# Sections
# --------------------------------------------------------------------------- #


def micro_sections(settings: SandboxSettings, plan: Plan, clock: Clock, failures: list[str]) -> list[tuple[str, SectionResult]]:
    """Sections 1-3, which need only Docker and the disk."""
    benches = [
        ("1. execute, ephemeral mode", bench_execute_ephemeral, plan.execute_ephemeral, plan.execute_warmup),
        ("2. execute, session mode", bench_execute_session, plan.execute_session, plan.execute_warmup),
        ("2b. first command of a new thread, warm pool", bench_first_command, plan.first_commands, plan.execute_warmup),
        ("3. file tools", bench_file_ops, plan.file_ops, plan.file_warmup),
    ]
    return [
        (title, run_section(clock, title, failures, functools.partial(bench, settings, iterations=iterations, warmup=warmup)))
        for title, bench, iterations, warmup in benches
    ]


def server_names(sections: tuple[str, ...]) -> list[str]:
    """Servers to start: the LocalShellBackend floor serves the single-turn and the concurrency sections."""
    names = [SESSION, EPHEMERAL]
    if "concurrency" in sections:
        names.extend([POOLED, AEGRA_1, AEGRA_2])
    if "turn" in sections or "concurrency" in sections:
        names.append(LOCAL_SHELL)
    if "live" in sections:
        names.append(QUIET_SESSION)
    return names


async def _concurrency(fleet: dict[str, ServedBackend], llm: ScriptedLLM, plan: Plan, clock: Clock) -> SectionResult:
    """Section 5: every engine at every level, `runs.wait`, then ephemeral mode on `langgraph dev` if the budget allows."""
    clock.log(f"5. engines: {plan.engine_levels} threads x {plan.engine_rounds} rounds, one turn each")
    started = clock.elapsed
    if plan.engine_conversation_turns > 1:
        clock.log(f"5. and {max(plan.engine_levels)} threads x {plan.engine_conversation_turns} turns each (ours with the pool, the floor)")
    loads = await run_levels(
        fleet, llm, levels=plan.engine_levels, rounds=plan.engine_rounds, conversation_turns=plan.engine_conversation_turns
    )
    clock.log(f"5. runs.wait x{plan.wait_samples} per engine")
    section = engine_section(loads, await wait_seconds(fleet, llm, samples=plan.wait_samples))
    for name in dict.fromkeys(load.backend for load in loads if load.result.errors):
        section.details.extend(server_errors(fleet[name]))
    engines_seconds = clock.elapsed - started
    if EPHEMERAL not in fleet or clock.remaining < engines_seconds / 2:
        clock.log(f"skipping {EPHEMERAL} concurrency: {clock.remaining:.0f}s left in the budget")
        return section
    results: list[LoadResult] = []
    for threads in plan.levels:
        clock.log(f"5. {EPHEMERAL}: {threads} threads x {plan.turns_per_thread} turns")
        results.append(await load_level(fleet[EPHEMERAL], llm, threads=threads, turns_per_thread=plan.turns_per_thread))
    section.rows.extend(load_rows(results))
    section.details.extend(["", LOAD_TABLE_HEADER])
    section.details.extend(r.describe() for r in results)
    for r in results:
        section.details.extend(f"{r.backend} x{r.threads} error: {e}" for e in r.errors[:3])
    return section


async def _guarded(clock: Clock, title: str, failures: list[str], body: Callable[[], Awaitable[SectionResult]]) -> SectionResult:
    clock.log(f"{title} ...")
    try:
        result = await body()
    except Exception as exc:
        traceback.print_exc()
        failures.append(f"{title}: {type(exc).__name__}: {exc}")
        return SectionResult()
    clock.log(f"{title} done")
    return result


def served_sections(
    config: FleetConfig, llm: ScriptedLLM, sections: tuple[str, ...], plan: Plan, clock: Clock, failures: list[str]
) -> list[tuple[str, SectionResult]]:
    """Sections 4-5 against real `langgraph dev` servers (started once, stopped at the end)."""
    names = server_names(sections)
    clock.log(f"starting langgraph dev: {', '.join(names)}")
    with serve_fleet(config, names) as (fleet, startup):
        clock.log("servers up: " + ", ".join(f"{n} {s:.1f}s" for n, s in startup.items()))

        async def body() -> list[tuple[str, SectionResult]]:
            done: list[tuple[str, SectionResult]] = []
            if "turn" in sections:
                title = "4. agent turn through langgraph dev"
                turn = await _guarded(
                    clock, title, failures, lambda: bench_turns(fleet, llm, iterations=plan.turns, warmup=plan.turn_warmup)
                )
                turn.details.append("server startup: " + ", ".join(f"{n} {s:.1f} s" for n, s in startup.items()))
                done.append((title, turn))
            if "concurrency" in sections:
                title = "5. concurrent threads"
                done.append((title, await _guarded(clock, title, failures, lambda: _concurrency(fleet, llm, plan, clock))))
            if "live" in sections:
                title = "6. live execute output"
                live = await _guarded(
                    clock,
                    title,
                    failures,
                    lambda: bench_live(fleet, llm, commands=plan.live_commands, turns=plan.live_turns, warmup=plan.turn_warmup),
                )
                done.append((title, live))
            return done

        return asyncio.run(body())


# --------------------------------------------------------------------------- #
# Cleanup and report
# --------------------------------------------------------------------------- #


def remove_containers(label_filters: list[str]) -> dict[str, int]:
    """Remove every container carrying any of the labels (`key` or `key=value`); count them by sandbox mode.

    Session containers are expected here (they outlive a server by design);
    ephemeral ones would mean a command's container was not removed.
    """
    api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    removed: dict[str, int] = {}
    try:
        for label in label_filters:
            for container in api.containers(all=True, filters={"label": [label]}):
                try:
                    api.remove_container(container["Id"], force=True)
                except NotFound:
                    continue
                labels = container.get("Labels") or {}
                kind = "benchmark floor" if BENCH_LABEL in labels else labels.get(LABEL_MODE, "unlabelled")
                removed[kind] = removed.get(kind, 0) + 1
    finally:
        api.close()
    return removed


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A world-traversable temp dir (the sandbox user must reach its workspaces), always removed."""
    root = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for disks in root.glob("*.disks"):  # quota disks are mounted: unmount before deleting
            remove_all_workspaces(SandboxSettings(workspaces_dir=disks.with_name(disks.name.removesuffix(".disks"))))
        shutil.rmtree(root, ignore_errors=True)


def micro_settings(root: Path, image: str) -> SandboxSettings:
    """Settings for sections 1-3: their own workspaces dir, so their containers have their own scope label."""
    shared = root / "shared"
    shared.mkdir(exist_ok=True)
    (shared / "reference.txt").write_text("shared reference\n", encoding="utf-8")
    return SandboxSettings(image=image, workspaces_dir=root / "workspaces-micro", shared_dir=shared, memories_dir=root / "memories-micro")


def report(
    plan_name: str, image: str, rows: list[Row], sections: list[tuple[str, SectionResult]], failures: list[str], notes: list[str]
) -> str:
    """The printed report: the table first, then each section's detail."""
    lines = [
        f"# Sandbox benchmark ({plan_name}; {os.cpu_count()} CPUs, Python {platform.python_version()}, image {image})",
        "",
        "Medians of interleaved samples from this run; ratio = ours / floor (lower is better), except the section 5 speed-up "
        "(throughput at 32 threads / throughput at 1 thread, higher is better).",
        "Floors: (1) docker-py create/start/wait/logs/remove with our hardened kwargs from `container_kwargs` (b) — the target's floor — "
        "and a plain container (a); (2) exec_create/exec_start/exec_inspect in our own session container; (3) deepagents "
        "`FilesystemBackend(virtual_mode=True)` on the same directory; (4) the same graph on deepagents' `LocalShellBackend`; "
        "(5) the same graph on deepagents' `LocalShellBackend` at the same concurrency (ephemeral mode: the same backend with 1 thread); "
        "(6) latency has no floor (target p50 ≤ 250 ms), cost is vs the same server "
        "without live output; (7) the same calls of the other user before the load (target: p95 under load ≤ 1 s); "
        "(8) absolute p50s in ms (targets 10 / 30 / 500 ms), the floor is a bare stat walk of the same tree.",
        "",
        render_table(rows),
    ]
    for title, section in sections:
        if section.details:
            lines.extend(["", f"## {title}", "", *section.details])
    if notes:
        lines.extend(["", "## Run", "", *notes])
    if failures:
        lines.extend(["", "## Failed sections", "", *failures])
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """`--quick`, `--only SECTION` and `--image`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under 3 minutes)")
    parser.add_argument("--only", choices=SECTIONS, help="run a single group of sections")
    parser.add_argument(
        "--engine-levels", type=lambda raw: tuple(int(n) for n in raw.split(",")), help="section 5's levels, e.g. 32 or 1,8,32"
    )
    parser.add_argument("--engine-rounds", type=int, help="how often section 5 repeats each level on each server")
    parser.add_argument("--engine-turns", type=int, help="section 5's conversation level: turns per thread at the top level (1 skips it)")
    parser.add_argument(
        "--image", default=os.environ.get("SANDBOX_IMAGE") or DEFAULT_IMAGE, help=f"sandbox image (default {DEFAULT_IMAGE})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections, clean up, print the report; exit 1 when a target is missed or a section failed."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    plan = QUICK if args.quick else FULL
    if args.engine_levels:
        plan = dataclasses.replace(plan, engine_levels=args.engine_levels)
    if args.engine_rounds:
        plan = dataclasses.replace(plan, engine_rounds=args.engine_rounds)
    if args.engine_turns:
        plan = dataclasses.replace(plan, engine_conversation_turns=args.engine_turns)
    sections = (args.only,) if args.only else SECTIONS
    clock = Clock(plan.budget_seconds)
    failures: list[str] = []
    results: list[tuple[str, SectionResult]] = []
    notes: list[str] = []
    with scratch_dir() as root:
        settings = micro_settings(root, args.image)
        scopes = [scope_of(settings)] + [
            scope_of(SandboxSettings(workspaces_dir=served_workspaces_dir(root, m)))
            for m in ("session", "ephemeral", QUIET_WORKSPACES, POOLED, AEGRA_1, AEGRA_2, RESPONSIVENESS_WORKSPACES)
        ]
        try:
            if "micro" in sections:
                results.extend(micro_sections(settings, plan, clock, failures))
            if "snapshots" in sections:
                bench = functools.partial(bench_snapshots, settings, iterations=plan.file_ops, warmup=plan.file_warmup)
                results.append((SNAPSHOTS_SECTION, run_section(clock, SNAPSHOTS_SECTION, failures, bench)))
            if set(sections) - {"micro", "snapshots"}:
                with ScriptedLLM(model="glm-4.7") as llm:
                    config = FleetConfig(llm_url=llm.base_url, image=args.image, root=root)
                    if SERVED_SECTIONS & set(sections):
                        results.extend(served_sections(config, llm, sections, plan, clock, failures))
                    if "responsiveness" in sections:
                        title = "7. responsiveness under one user's load"
                        measure = functools.partial(bench_responsiveness, config, llm, seconds=plan.responsiveness_seconds)
                        results.append((title, run_section(clock, title, failures, measure)))
        finally:
            removed = remove_containers([BENCH_LABEL, *(f"{LABEL_SCOPE}={scope}" for scope in scopes)])
            counts = ", ".join(f"{count} {kind}" for kind, count in sorted(removed.items())) or "none"
            notes.append(f"containers left at the end and removed: {counts} (session ones are expected: they outlive a server by design)")
    notes.append(f"total {clock.elapsed:.0f} s (budget {plan.budget_seconds:.0f} s)")
    rows = [row for _, section in results for row in section.rows]
    print(report("quick" if args.quick else "full", args.image, rows, results, failures, notes))
    return 1 if failures or any(row.verdict == "MISS" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
