"""`deploy/aegra/serve.sh`: the production-style deployment (Aegra + PostgreSQL + Redis) really starts and stops.

Every test runs the script itself (through `tests.support.aegra_server` or directly)
on Debian's PostgreSQL and Redis, with the scripted model, and checks what a user of
the production command (docs/deployment.md) relies on: it gets ready on every worker, serves the agent
through `langgraph-sdk`, keeps the data for the next start, uses given
`DATABASE_URL` / `REDIS_URL` instead of starting its own, says clearly what failed,
and leaves nothing running or mounted once stopped, or running once killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.aegra_server import (
    SERVE_SCRIPT,
    connection_env,
    data_dir,
    deployment_processes,
    remove_leftovers,
    run_aegra,
    start_aegra,
)
from tests.support.agent_client import last_ai_text, sdk_client, stream_run, thread_state, user_input
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import REPO_ROOT, E2EPaths, LangGraphServer, free_port
from tests.support.langgraph_server import server_env as process_env
from tests.support.scripted_llm import ScriptedLLM, say
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

WORKER_STARTED = "Application startup complete"
"""uvicorn's line once one worker process has finished its startup."""


@pytest.fixture(scope="module")
def aegra_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    paths = make_e2e_paths(tmp_path_factory.mktemp("aegra-serve"))
    yield paths
    remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.fixture(scope="module")
def aegra_env(scripted_llm: ScriptedLLM, aegra_paths: E2EPaths, sandbox_image: str) -> dict[str, str]:
    return server_env(scripted_llm, aegra_paths, sandbox_image)


def info(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/info", timeout=10) as response:
        return dict(json.loads(response.read()))


async def answered_run(url: str, scripted_llm: ScriptedLLM, thread_id: str | None = None) -> tuple[str, str, str]:
    """One run with a scripted answer, streamed through `url`; returns (thread id, answer, trigger)."""
    trigger = f"aegra-serve-{uuid.uuid4().hex[:8]}"
    answer = f"Aegra answered {trigger}."
    scripted_llm.add_scenario(trigger, say(answer))
    async with sdk_client(url) as client:
        if thread_id is None:
            thread_id = (await client.threads.create())["thread_id"]
        outcome = await stream_run(client, thread_id, input=user_input(f"Say something ({trigger})"))
        assert not outcome.errors, outcome.describe()
        assert outcome.final_ai_text == answer, outcome.describe()
    return thread_id, answer, trigger


async def test_two_workers_serve_the_agent_and_a_second_start_keeps_the_data(
    tmp_path: Path, aegra_env: dict[str, str], scripted_llm: ScriptedLLM
) -> None:
    with run_aegra(workdir=tmp_path, env=aegra_env, workers=2) as server:
        log = server.log_since(0)
        assert "postgresql: creating a cluster" in log, log
        assert "redis: starting on 127.0.0.1:" in log, log
        assert "ready: Aegra serves" in log, log
        assert log.count(WORKER_STARTED) >= 2, f"expected two started worker processes:\n{log}"
        assert info(server.url)["name"] == "Aegra"
        thread_id, answer, _ = await answered_run(server.url, scripted_llm)
        assert (data_dir(tmp_path) / "connection.env").exists()
        # A second serve.sh on the same data folder refuses, and disturbs nothing of the first.
        second = await asyncio.to_thread(run_script, data_dir(tmp_path), aegra_env, port=free_port())
        assert second.returncode != 0, second.stderr
        assert "is already running: another serve.sh uses this data folder" in second.stderr, second.stderr
        _, last_answer, _ = await answered_run(server.url, scripted_llm, thread_id)
        # Ctrl-C on the script alone (not its process group) stops everything it started;
        # run_aegra's exit then fails the test if anything is still running or mounted.
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=150) == 130, server.log_tail()
        stopped = server.log_since(0)
        for part in ("server", "redis", "postgresql"):
            assert f"{part}: stopping" in stopped, stopped
    assert not (data_dir(tmp_path) / "connection.env").exists(), "connection.env outlived the services it describes"

    offset = (tmp_path / "server.log").stat().st_size
    with run_aegra(workdir=tmp_path, env=aegra_env, workers=2) as server:
        log = server.log_since(offset)
        assert "creating a cluster" not in log, f"the second start made a new database:\n{log}"
        async with sdk_client(server.url) as client:
            state = await thread_state(client, thread_id)
        assert last_ai_text(state) == last_answer, state
        # The thread goes on where it was: the model sees the earlier answer.
        _, _, trigger = await answered_run(server.url, scripted_llm, thread_id)
        [request] = scripted_llm.requests_for(trigger)
        assert request.saw(answer), request.messages


async def test_given_database_and_redis_urls_nothing_local_is_started(
    tmp_path: Path, aegra_env: dict[str, str], scripted_llm: ScriptedLLM
) -> None:
    # Two "hosts" of one deployment: the second uses the first one's PostgreSQL and Redis.
    first, second = tmp_path / "first", tmp_path / "second"
    with run_aegra(workdir=first, env=aegra_env, workers=2) as one:
        urls = connection_env(first)
        assert set(urls) == {"DATABASE_URL", "REDIS_URL"}, urls
        with run_aegra(workdir=second, env={**aegra_env, **urls}, workers=1) as two:
            log = two.log_since(0)
            assert "DATABASE_URL is set; no local PostgreSQL" in log, log
            assert "REDIS_URL is set" in log, log
            assert "postgresql: starting" not in log, log
            assert "redis: starting" not in log, log
            assert not (data_dir(second) / "pg").exists()
            assert not (data_dir(second) / "redis").exists()
            # Same database and queue: a thread made on one host is served by the other.
            thread_id, answer, _ = await answered_run(one.url, scripted_llm)
            await answered_run(two.url, scripted_llm, thread_id)
            async with sdk_client(two.url) as client:
                history = await client.threads.get_history(thread_id, limit=50)
            assert any(answer in json.dumps(entry["values"], ensure_ascii=False) for entry in history)


def run_script(data: Path, env: dict[str, str], *args: str, port: int) -> subprocess.CompletedProcess[str]:
    """serve.sh on `port` with its data folder `data`, run to its end."""
    command = ["bash", str(SERVE_SCRIPT), "--port", str(port), "--data-dir", str(data), *args]
    child_env = process_env({"DATABASE_URL": "", "REDIS_URL": "", **env})
    return subprocess.run(command, cwd=REPO_ROOT, env=child_env, capture_output=True, text=True, timeout=900, check=False)


def test_an_unreachable_database_is_a_clear_failure(tmp_path: Path, aegra_env: dict[str, str]) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://aegra:not-for-logs@127.0.0.1:{port}/aegra"
    result = run_script(tmp_path / "data", {**aegra_env, "DATABASE_URL": url}, port=free_port())
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"PostgreSQL at postgresql://aegra:***@127.0.0.1:{port}/aegra is not usable" in output, output
    assert "the database or Redis is not usable" in output, output
    assert "not-for-logs" not in output, "the password reached the log"


def test_a_server_that_cannot_start_is_a_clear_failure(tmp_path: Path, aegra_env: dict[str, str]) -> None:
    graph = tmp_path / "broken_graph.py"
    graph.write_text('raise RuntimeError("this graph cannot be imported (test)")\n', encoding="utf-8")
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"agent": f"{graph}:agent"}, "dependencies": [str(REPO_ROOT)]}), encoding="utf-8")
    port = free_port()
    result = run_script(tmp_path / "data", aegra_env, "--config", str(config), "--workers", "2", port=port)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # Reported as soon as a worker's startup fails, not once uvicorn's health checks of both have timed out.
    assert "a worker's startup failed" in output, output
    assert "this graph cannot be imported (test)" in output, "the log tail should show why"
    assert "Aegra did not come up" in output, output
    assert remove_leftovers(tmp_path / "data", port) == [], "a failed start left something running"
    assert "redis: stopping" in output, output
    assert "postgresql: stopping" in output, output


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(SERVE_SCRIPT), "--workers", "two"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "--port PORT is required" in result.stderr, result.stderr
    assert not (tmp_path / ".data").exists()
    assert os.listdir(tmp_path) == []


# --- Stopping: SIGTERM, SIGKILL and the death of its parent each leave nothing running ---------
# The entry point (what serve.sh execs, the process an operator or systemd signals) starts
# PostgreSQL, Redis and the workers. However it ends, none of them may go on running: a
# leftover PostgreSQL holds the data folder (the next start refuses), a leftover worker the
# port. One data folder is started four times, each start being the "starts again" check of
# the previous way of ending (each start takes most of a minute).

GONE_WITHIN = 30.0
"""Seconds everything may take to end after the entry point or its parent is killed."""


@contextlib.contextmanager
def started(workdir: Path, env: dict[str, str], port: int, parent: Sequence[str] = ()) -> Iterator[LangGraphServer]:
    """serve.sh with two workers (under the `parent` command when given) until ready; the caller ends it its own way."""
    with start_aegra(workdir=workdir, env=env, port=port, workers=2, parent=parent) as server:
        running = " ".join(deployment_processes(data_dir(workdir), port))
        for part in ("the entry point", "Aegra server processes", "PostgreSQL", "Redis"):
            assert part in running, f"{part} should run: {running}"
        yield server


def assert_all_gone(workdir: Path, port: int, how: str) -> None:
    """Within `GONE_WITHIN` seconds no process of the deployment in `workdir` on `port` runs."""
    deadline = time.monotonic() + GONE_WITHIN
    while (left := deployment_processes(data_dir(workdir), port)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"after {how}, still running: {left}"


def test_sigterm_sigkill_and_parent_death_each_leave_nothing_running(tmp_path: Path, aegra_env: dict[str, str]) -> None:
    port = free_port()
    try:
        # SIGTERM to the entry point alone (as systemd sends it): it stops everything, in order.
        with started(tmp_path, aegra_env, port) as server:
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=150) == 143, server.log_tail()
        assert_all_gone(tmp_path, port, "SIGTERM")
        stopped = (tmp_path / "server.log").read_text()
        for part in ("server", "redis", "postgresql"):
            assert f"{part}: stopping" in stopped, stopped

        # SIGKILL of the entry point: it cannot stop anything itself; what it started ends anyway.
        with started(tmp_path, aegra_env, port) as server:
            server.process.kill()
            server.process.wait(timeout=10)
            assert_all_gone(tmp_path, port, "SIGKILL of the entry point")

        # Its parent killed: the entry point notices and stops everything, then exits.
        parent = ["bash", "-c", '"$@" & wait', "parent"]
        with started(tmp_path, aegra_env, port, parent=parent) as server:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
            assert_all_gone(tmp_path, port, "SIGKILL of the entry point's parent")

        # The data folder starts again, and this last stop leaves nothing running or mounted.
        with run_aegra(workdir=tmp_path, env=aegra_env, port=port, workers=2):
            log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
            assert log.count("postgresql: creating a cluster") == 1, "a restart made a new database"
    finally:
        # A failed check must not leave the deployment running for the tests after it.
        remove_leftovers(data_dir(tmp_path), port)
