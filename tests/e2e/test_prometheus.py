"""A real Prometheus scrapes the server (each engine; with `METRICS_TOKEN`) while the agent runs commands and waits for an approval.

Each `sandbox_` metric is then asked of Prometheus' query API: commands started
and ended (finished, timed out, killed), their durations, containers by mode and
state, the approval wait and pending approvals, disk use per user against the
budget, refused requests, server errors; next to the server's own `lg_api_*` ones.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.metrics.events import BOUNDED_LABELS
from tests.support.agent_client import GRAPH_ID, approve, create_assistant, resume, stream_run, user_input
from tests.support.e2e_servers import CONTRACT_USER, AuthServer, auth_server_with
from tests.support.engines import ENGINES, LANGGRAPH_DEV
from tests.support.langgraph_server import REPO_ROOT
from tests.support.prometheus import PROMETHEUS_BINARY, Prometheus, run_prometheus
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboard.json"
PROMETHEUS_OWN_LABELS = frozenset({"__name__", "job", "instance", "le"})
NO_APPROVALS = {"approval_tools": []}


@pytest.fixture(scope="module", params=ENGINES)
def metrics_server(
    request: pytest.FixtureRequest, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """A server of its own (auth on; Aegra with two workers; the per-user disk budget on), so the counts seen are this test's."""
    with auth_server_with(request.param, scripted_llm, tmp_path_factory, sandbox_image, SANDBOX_DISK_PER_USER="auto") as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(metrics_server: AuthServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if not PROMETHEUS_BINARY.exists():
        pytest.fail(f"{PROMETHEUS_BINARY} is missing: apt-get install prometheus (scripts in .ci/run)")
    folder: Path = tmp_path_factory.mktemp("prometheus")
    with run_prometheus(metrics_server.url, metrics_server.keys.metrics_token, folder) as running:
        running.wait_for('up{job="deepagents"}', lambda up: up == 1)
        yield running


async def _wait(prometheus: Prometheus, expr: str, accept: Callable[[float], bool]) -> float:
    return await asyncio.to_thread(prometheus.wait_for, expr, accept)


async def test_prometheus_sees_every_sandbox_metric(metrics_server: AuthServer, prometheus: Prometheus, scripted_llm: ScriptedLLM) -> None:
    tag = uuid.uuid4().hex[:8]
    approved, timed_out, killed = (f"e2e-prom-{name}-{tag}" for name in ("approved", "timeout", "killed"))
    scripted_llm.add_scenario(approved, call("execute", command="echo approved"), say("done"))
    scripted_llm.add_scenario(timed_out, call("execute", command="sleep 30", timeout=5), say("done"))
    scripted_llm.add_scenario(killed, call("execute", command="kill -9 $$"), say("done"))

    async with metrics_server.client(CONTRACT_USER) as client:
        # An approval: the run pauses, Prometheus sees it pending, then the decision arrives a few seconds later.
        paused_thread = (await client.threads.create())["thread_id"]
        first = await stream_run(client, paused_thread, input=user_input(f"say it ({approved})"))
        assert first.action_requests, first.describe()
        paused_at = time.monotonic()
        await _wait(prometheus, "sandbox_approvals_pending", lambda pending: pending >= 1)
        await asyncio.sleep(2)
        waited = time.monotonic() - paused_at
        second = await stream_run(client, paused_thread, command=resume(approve()))
        assert not second.errors, second.describe()
        # Commands without approval: one past its timeout, one SIGKILLed.
        unattended = await create_assistant(client, "no approvals", NO_APPROVALS, GRAPH_ID)
        thread_id = (await client.threads.create())["thread_id"]
        for trigger in (timed_out, killed):
            outcome = await stream_run(client, thread_id, input=user_input(f"run it ({trigger})"), assistant_id=unattended["assistant_id"])
            assert not outcome.errors, outcome.describe()
    # A request refused before it did any work.
    async with httpx.AsyncClient(base_url=metrics_server.url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {metrics_server.keys.token(CONTRACT_USER)}"}
        assert (await http.post("/store/items/search", json={}, headers=headers)).status_code == 422

    started = 'sandbox_commands_started_total{mode="ephemeral"}'
    await _wait(prometheus, started, lambda count: count >= 3)
    for outcome in ("finished", "timed_out", "killed"):
        await _wait(prometheus, f'sandbox_commands_ended_total{{mode="ephemeral",outcome="{outcome}"}}', lambda count: count >= 1)
    await _wait(prometheus, 'sandbox_command_duration_seconds_sum{outcome="timed_out"}', lambda seconds: seconds >= 5)
    await _wait(prometheus, 'sandbox_command_duration_seconds_count{mode="ephemeral"}', lambda count: count >= 1)
    await _wait(prometheus, 'max_over_time(sandbox_containers{mode="ephemeral",state="running"}[10m])', lambda count: count >= 1)
    await _wait(prometheus, 'sandbox_approval_wait_seconds_count{decision="approve"}', lambda count: count >= 1)
    # From the pause to the decision: the time this test took to decide, give or take the run's own end.
    await _wait(prometheus, 'sandbox_approval_wait_seconds_sum{decision="approve"}', lambda seconds: waited - 1 <= seconds <= waited + 5)
    await _wait(prometheus, "sandbox_approvals_pending", lambda pending: pending == 0)
    reserved = await _wait(prometheus, f'sandbox_disk_reserved_bytes{{user="{CONTRACT_USER}"}}', lambda size: size > 0)
    await _wait(prometheus, f'sandbox_disk_used_bytes{{user="{CONTRACT_USER}"}}', lambda size: 0 < size <= reserved)
    budget = await _wait(prometheus, "sandbox_disk_user_budget_bytes", lambda size: size >= reserved)
    await _wait(prometheus, "sandbox_disk_total_bytes", lambda size: size >= budget)
    await _wait(prometheus, 'sandbox_requests_refused_total{reason="store_search"}', lambda count: count >= 1)
    await _wait(prometheus, 'sandbox_server_errors_total{status="500"}', lambda count: count == 0)
    if metrics_server.engine == LANGGRAPH_DEV:  # its own metrics are still there, in the same scrape (Aegra has none)
        await _wait(prometheus, 'count({__name__=~"lg_api_.*"})', lambda count: count >= 1)

    # Bounded labels only: never a thread id.
    series = await asyncio.to_thread(prometheus.query, '{__name__=~"sandbox_.*"}')
    assert series
    for sample in series:
        labels = sample["metric"]
        assert set(labels) <= BOUNDED_LABELS | PROMETHEUS_OWN_LABELS, labels
        assert paused_thread not in labels.values(), labels
        assert thread_id not in labels.values(), labels

    # Every panel of the shipped Grafana dashboard is a query Prometheus answers with data.
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert await asyncio.to_thread(prometheus.query, target["expr"]), (panel["title"], target["expr"])
