"""`deploy/aegra/serve.sh`: the production-style deployment (Aegra + PostgreSQL + Redis) really starts and stops.

Every test runs the script itself (through `tests.support.aegra_server` or directly)
on Debian's PostgreSQL and Redis, with the scripted model, and checks what a user of
the README's command relies on: it gets ready on every worker, serves the agent
through `langgraph-sdk`, keeps the data for the next start, uses given
`DATABASE_URL` / `REDIS_URL` instead of starting its own, says clearly what failed,
and leaves nothing running or mounted once stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import make_e2e_paths, server_env
from tests.support.aegra_server import SERVE_SCRIPT, remove_leftovers
from tests.support.langgraph_server import REPO_ROOT, E2EPaths, free_port
from tests.support.langgraph_server import server_env as process_env
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture(scope="module")
def aegra_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    paths = make_e2e_paths(tmp_path_factory.mktemp("aegra-serve"))
    yield paths
    remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.fixture(scope="module")
def aegra_env(scripted_llm: ScriptedLLM, aegra_paths: E2EPaths, sandbox_image: str) -> dict[str, str]:
    return server_env(scripted_llm, aegra_paths, sandbox_image)


def run_script(tmp_path: Path, env: dict[str, str], *args: str, port: int) -> subprocess.CompletedProcess[str]:
    """serve.sh on `port` with data in `tmp_path/data`, run to its end."""
    command = ["bash", str(SERVE_SCRIPT), "--port", str(port), "--data-dir", str(tmp_path / "data"), *args]
    child_env = process_env({"DATABASE_URL": "", "REDIS_URL": "", **env})
    return subprocess.run(command, cwd=REPO_ROOT, env=child_env, capture_output=True, text=True, timeout=900, check=False)


def test_an_unreachable_database_is_a_clear_failure(tmp_path: Path, aegra_env: dict[str, str]) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://aegra:not-for-logs@127.0.0.1:{port}/aegra"
    result = run_script(tmp_path, {**aegra_env, "DATABASE_URL": url}, port=free_port())
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
    result = run_script(tmp_path, aegra_env, "--config", str(config), "--workers", "2", port=port)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "the server exited before answering" in output, output
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
