"""Section 7: the API answers another user promptly while one user runs as many long commands as allowed.

One auth-enabled `langgraph dev`, started with scripts/start.sh's flags (`--n-jobs-per-worker
32`) and the default caps, ephemeral mode. User A pauses `SANDBOX_MAX_RUNNING_PER_USER`
threads at an `execute` of a long `sleep`, approves them all at once and waits until
every command runs. Meanwhile user B, in turn, searches threads, lists a file
of their workspace and calls `GET /ok`, timing each answer; the floor is the same
calls before A's load. Target: p95 under load ≤ 1 s. A's commands must all finish
with their output, or the section fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
from langgraph_sdk.client import LangGraphClient

from benchmarks.stats import Row, SectionResult, Target, format_seconds, median, percentile
from benchmarks.turns import ANSWER_PREFIX, N_JOBS_PER_WORKER, TURN_TIMEOUT, FleetConfig, TurnError, served_workspaces_dir
from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from tests.support.agent_client import approve, resume, sdk_client, stream_run, user_input
from tests.support.auth_keys import AuthKeys
from tests.support.langgraph_server import LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

WORKSPACES = "responsiveness"
"""This section's server's workspaces dir name (`served_workspaces_dir`), so its containers have their own scope."""
LOADED_USER, OTHER_USER = "bench-user-a", "bench-user-b"
P95_TARGET = Target(1.0)
SAMPLE_PAUSE_SECONDS = 0.05
COMMAND_SLACK_SECONDS = 30
"""A's commands outlast the measurement by this much: starting them all takes a while on 2 cores."""


@dataclass(frozen=True)
class _Served:
    server: LangGraphServer
    keys: AuthKeys
    settings: SandboxSettings


@contextlib.contextmanager
def _serve(config: FleetConfig) -> Iterator[_Served]:
    """The server `scripts/start.sh` starts (`langgraph dev --n-jobs-per-worker 32`) with authentication on and the default caps."""
    workspaces = served_workspaces_dir(config.root, WORKSPACES)
    memories = config.root / f"memories-{WORKSPACES}"
    keys = AuthKeys(jwks_file=config.root / "responsiveness-jwks.json")
    env = {
        **config.model_env(),
        **keys.env(),
        "SANDBOX_IMAGE": config.image,
        "SANDBOX_MODE": "ephemeral",
        "SANDBOX_WORKSPACES_DIR": str(workspaces),
        "SANDBOX_SHARED_DIR": str(config.root / "shared"),
        "SANDBOX_MEMORIES_DIR": str(memories),
        "SANDBOX_DISK_QUOTA": "64m",
    }
    (config.root / "shared").mkdir(parents=True, exist_ok=True)
    settings = SandboxSettings(image=config.image, workspaces_dir=workspaces, shared_dir=config.root / "shared", memories_dir=memories)
    with run_langgraph_dev(workdir=config.root / f"server-{WORKSPACES}", env=env, n_jobs_per_worker=N_JOBS_PER_WORKER) as server:
        yield _Served(server, keys, settings)


def _running_commands(settings: SandboxSettings, user_id: str) -> int:
    api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        return len(api.containers(filters=label_filter(labels_for(settings, user_id=user_id))))
    finally:
        api.close()


async def _paused_long_commands(client: LangGraphClient, llm: ScriptedLLM, count: int, seconds: int) -> dict[str, str]:
    """`count` threads paused at an approved-to-be `sleep seconds`; thread id -> the text its answer must hold."""
    expected: dict[str, str] = {}
    for _ in range(count):
        token = f"responsive-{uuid.uuid4().hex[:12]}"
        llm.add_scenario(token, call("execute", command=f"sleep {seconds}; echo {token}-done"), say(echo_last_tool_output(ANSWER_PREFIX)))
        thread_id = str((await client.threads.create())["thread_id"])
        paused = await stream_run(client, thread_id, input=user_input(f"run it ({token})"))
        if paused.errors or [a.get("name") for a in paused.action_requests] != ["execute"]:
            msg = f"expected an execute interrupt, got {paused.action_requests} errors {paused.errors}"
            raise TurnError(msg)
        expected[thread_id] = f"{token}-done"
    return expected


class _OtherUser:
    """User B's three calls, each timed; a non-2xx answer counts as an error."""

    def __init__(self, client: LangGraphClient, http: httpx.AsyncClient, thread_id: str) -> None:
        self.calls: dict[str, Callable[[], Awaitable[None]]] = {
            "threads.search": self._search,
            "file listing": self._listing,
            "GET /ok": self._ok,
        }
        self.client, self.http, self.thread_id = client, http, thread_id
        self.errors: list[str] = []

    async def _search(self) -> None:
        await self.client.threads.search(limit=10)

    async def _listing(self) -> None:
        answer = await self.http.get(f"/files/{self.thread_id}/list", params={"path": "/workspace"})
        if answer.status_code != httpx.codes.OK:
            self.errors.append(f"file listing: {answer.status_code} {answer.text[:200]}")

    async def _ok(self) -> None:
        answer = await self.http.get("/ok")
        if answer.status_code != httpx.codes.OK:
            self.errors.append(f"/ok: {answer.status_code} {answer.text[:200]}")

    async def sample(self, seconds: float) -> dict[str, list[float]]:
        """Call each in turn for `seconds`; seconds per answer, by call."""
        samples: dict[str, list[float]] = {name: [] for name in self.calls}
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            for name, action in self.calls.items():
                started = time.perf_counter()
                await action()
                samples[name].append(time.perf_counter() - started)
            await asyncio.sleep(SAMPLE_PAUSE_SECONDS)
        return samples


def _rows(idle: dict[str, list[float]], loaded: dict[str, list[float]], commands: int) -> list[Row]:
    rows = []
    for name, values in loaded.items():
        p50, p95, floor = median(values), percentile(values, 0.95), median(idle[name])
        measure = f"another user's {name} while one user runs {commands} long commands: p95 (p50 {format_seconds(p50, 'ms')})"
        rows.append(Row("7", measure, format_seconds(p95, "ms"), format_seconds(floor, "ms"), p95, format_seconds(p95, "ms"), P95_TARGET))
    return rows


async def _measure(served: _Served, llm: ScriptedLLM, *, seconds: float) -> SectionResult:
    commands = served.settings.max_running_per_user
    url = served.server.url
    b_headers = {"Authorization": f"Bearer {served.keys.token(OTHER_USER)}"}
    async with (
        sdk_client(url, token=served.keys.token(LOADED_USER)) as alice,
        sdk_client(url, token=served.keys.token(OTHER_USER)) as bob,
        httpx.AsyncClient(base_url=url, headers=b_headers, timeout=TURN_TIMEOUT) as http,
    ):
        bobs_thread = str((await bob.threads.create())["thread_id"])
        put = await http.put(f"/files/{bobs_thread}/content", params={"path": "/workspace/notes.txt"}, content=b"notes\n")
        put.raise_for_status()
        other = _OtherUser(bob, http, bobs_thread)
        idle = await other.sample(max(3.0, seconds / 3))

        expected = await _paused_long_commands(alice, llm, commands, int(seconds) + COMMAND_SLACK_SECONDS)
        approved = [stream_run(alice, tid, command=resume(approve()), run_timeout=TURN_TIMEOUT + seconds) for tid in expected]
        running = [asyncio.create_task(run) for run in approved]
        try:
            started = 0
            for _ in range(COMMAND_SLACK_SECONDS * 5 // 2):  # fewer may start: then the latencies say why
                started = await asyncio.to_thread(_running_commands, served.settings, LOADED_USER)
                if started >= commands:
                    break
                await asyncio.sleep(0.2)
            loaded = await other.sample(seconds)
            still = await asyncio.to_thread(_running_commands, served.settings, LOADED_USER)
            outcomes = await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
    missing = [tid for (tid, text), outcome in zip(expected.items(), outcomes, strict=True) if text not in outcome.final_ai_text]
    if missing or other.errors:
        msg = f"long commands without their output: {missing}; other user's errors: {other.errors[:3]}"
        raise TurnError(msg)
    section = SectionResult(rows=_rows(idle, loaded, commands))
    section.details.append(
        f"{commands} long commands of one user (SANDBOX_MAX_RUNNING_PER_USER, default): {started} running when sampling "
        f"began, {still} when it ended; another user sampled each call {len(loaded['GET /ok'])} times in {seconds:.0f} s, "
        f"floor = the same calls before the load ({len(idle['GET /ok'])} samples)."
    )
    section.details.extend(
        f"- {name}: p50 {format_seconds(median(values), 'ms')}, p95 {format_seconds(percentile(values, 0.95), 'ms')}, "
        f"max {format_seconds(max(values), 'ms')}; idle p50 {format_seconds(median(idle[name]), 'ms')}"
        for name, values in loaded.items()
    )
    return section


def bench_responsiveness(config: FleetConfig, llm: ScriptedLLM, *, seconds: float) -> SectionResult:
    """Section 7 on its own server (started and stopped here)."""
    with _serve(config) as served:
        return asyncio.run(_measure(served, llm, seconds=seconds))


def responsiveness_scope_dir(root: Path) -> Path:
    """The workspaces dir whose scope label this section's containers carry (for the final clean-up)."""
    return served_workspaces_dir(root, WORKSPACES)
