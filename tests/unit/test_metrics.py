"""The `sandbox_` metrics: bounded labels, command outcomes, and `/metrics` merged with the server's own output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox.containers.command_wrapper import KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE, RawResult
from sandbox.coordination.process_state import sandbox_process
from sandbox.metrics import events as metrics
from sandbox.metrics.events import SandboxMetrics
from sandbox.metrics.scrape import event_families, exposition
from server.metrics_route import MetricsRoute
from server.route_gate import ServerRouteGate
from server.server_errors import ServerErrors

SERVER_OWN = "# HELP lg_api_num_runs runs\n# TYPE lg_api_num_runs gauge\nlg_api_num_runs 3.0\n"


def _value(name: str, **labels: str) -> float:
    return sandbox_process().metrics.registry.get_sample_value(name, labels) or 0.0


def test_every_metric_is_named_sandbox_and_carries_only_bounded_labels() -> None:
    metrics.command_ended("ephemeral", "finished", 0.5)
    metrics.approval_decided("approve", 3.0)
    metrics.refused("disk_budget")
    metrics.server_error(503)
    families = event_families()
    assert {f.name for f in families} >= {
        "sandbox_commands_started",
        "sandbox_commands_ended",
        "sandbox_command_duration_seconds",
        "sandbox_approval_wait_seconds",
        "sandbox_requests_refused",
        "sandbox_server_errors",
    }
    for family in families:
        assert family.name.startswith("sandbox_"), family.name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= metrics.BOUNDED_LABELS, (family.name, sample.labels)


@pytest.mark.parametrize(
    ("emit", "name", "label"),
    [
        (metrics.command_started, "sandbox_commands_started_total", "mode"),
        (metrics.refused, "sandbox_requests_refused_total", "reason"),
        (lambda v: metrics.approval_decided(v, 1.0), "sandbox_approval_wait_seconds_count", "decision"),
        (lambda v: metrics.command_ended("session", v, 1.0), "sandbox_commands_ended_total", "outcome"),
    ],
)
def test_a_value_from_outside_never_becomes_a_new_series(emit: object, name: str, label: str) -> None:
    """A thread id, a user's text or a typo lands in `other`: no input can grow the number of series."""
    thread_id = "5f0c3c3e-6a57-4d0e-9d2a-0c1b2f3e4d5a"
    before = _value(name, **{label: metrics.OTHER, **({"mode": "session"} if label == "outcome" else {})})
    emit(thread_id)  # type: ignore[operator]
    after = _value(name, **{label: metrics.OTHER, **({"mode": "session"} if label == "outcome" else {})})
    assert after == before + 1
    assert thread_id not in exposition(event_families()).decode()


def test_server_errors_count_only_5xx_statuses() -> None:
    before = _value("sandbox_server_errors_total", status="other")
    metrics.server_error(404)
    assert _value("sandbox_server_errors_total", status="other") == before + 1
    assert sandbox_process().metrics.registry.get_sample_value("sandbox_server_errors_total", {"status": "404"}) is None


def _raw(exit_code: int | None, seconds: float, **flags: bool) -> RawResult:
    now = time.monotonic()
    return RawResult(output=b"", exit_code=exit_code, started_at=now - seconds, finished_at=now, **flags)


@pytest.mark.parametrize(
    ("raw", "exit_code", "outcome"),
    [
        (_raw(0, 0.1), 0, "finished"),
        (_raw(1, 0.1), 1, "finished"),
        (_raw(TIMEOUT_EXIT_CODE, 5.0), TIMEOUT_EXIT_CODE, "timed_out"),
        (_raw(TIMEOUT_EXIT_CODE, 0.2), TIMEOUT_EXIT_CODE, "finished"),  # the command's own exit 124
        (_raw(KILLED_EXIT_CODE, 0.2), KILLED_EXIT_CODE, "killed"),
        (_raw(0, 0.2, flooded=True), KILLED_EXIT_CODE, "killed"),
        (_raw(KILLED_EXIT_CODE, 0.2, container_removed=True), KILLED_EXIT_CODE, "killed"),
        (_raw(None, 0.2), None, "failed"),
    ],
)
def test_command_outcome(raw: RawResult, exit_code: int | None, outcome: str) -> None:
    assert metrics.command_outcome(raw, exit_code, timeout_seconds=5) == outcome


def _server_app(metrics_status: int) -> Starlette:
    """A stand-in for the server's own routes underneath our middleware (its `/metrics` answers `metrics_status`)."""

    async def own_metrics(request: Request) -> Response:
        if request.query_params.get("format") == "json":
            return JSONResponse({"queue": 0})
        if metrics_status == 404:
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(SERVER_OWN, status_code=metrics_status)

    async def broken(_request: Request) -> Response:
        msg = "bug"
        raise RuntimeError(msg)

    app = Starlette(routes=[Route("/metrics", own_metrics), Route("/broken", broken)])
    app.add_middleware(MetricsRoute)
    app.add_middleware(ServerErrors)
    return app


def _families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


async def _get(app: Starlette, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


@pytest.mark.usefixtures("_sandbox_dirs")
async def test_metrics_appends_ours_to_the_servers_own() -> None:
    response = await _get(_server_app(200), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)
    assert "lg_api_num_runs" in families
    assert {"sandbox_commands_started", "sandbox_disk_total_bytes"} <= set(families)
    assert response.text.count("# TYPE lg_api_num_runs") == 1


@pytest.mark.usefixtures("_sandbox_dirs")
async def test_metrics_where_the_server_has_none_are_ours_alone() -> None:
    response = await _get(_server_app(404), "/metrics")
    assert response.status_code == 200
    families = _families(response.text)
    assert "lg_api_num_runs" not in families
    assert "sandbox_commands_started" in families


async def test_the_servers_json_metrics_and_its_errors_pass_through() -> None:
    assert (await _get(_server_app(200), "/metrics?format=json")).json() == {"queue": 0}
    failed = await _get(_server_app(503), "/metrics")
    assert failed.status_code == 503
    assert "sandbox_" not in failed.text


async def test_an_escaping_exception_counts_as_a_server_error() -> None:
    before = _value("sandbox_server_errors_total", status="500")
    assert (await _get(_server_app(200), "/broken")).status_code == 500
    assert _value("sandbox_server_errors_total", status="500") == before + 1


@pytest.fixture
def _sandbox_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Disk use is read from this test's own (empty) folders, with a fixed total."""
    monkeypatch.setenv("SANDBOX_WORKSPACES_DIR", str(tmp_path / "workspaces"))
    monkeypatch.setenv("SANDBOX_DISK_TOTAL", "1G")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_one_scrape_sees_the_counts_of_every_worker_process(tmp_path: Path) -> None:
    """Multiprocess mode (the deployment's workers): two processes count, a third one's scrape shows their sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from sandbox.metrics import events as metrics; [metrics.command_started('session') for _ in range({n})]"
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True, timeout=60)
    scrape = "from sandbox.metrics.scrape import event_families, exposition; print(exposition(event_families()).decode())"
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True, text=True).stdout
    [started] = [f for f in text_string_to_metric_families(text) if f.name == "sandbox_commands_started"]
    assert {s.labels["mode"]: s.value for s in started.samples if s.name.endswith("_total")} == {"session": 5.0, "ephemeral": 0.0}


def test_our_metrics_are_served_only_past_the_gate() -> None:
    """`MetricsRoute` sits inside `ServerRouteGate` (Starlette's first middleware is the outermost), so a refused caller never gets ours."""
    from server.app import middleware  # noqa: PLC0415 - the app's module patches the in-memory server on import

    order = [entry.cls for entry in middleware]
    assert order[0] is ServerErrors, "the error counter sees every response only as the outermost of ours"
    assert order.index(ServerRouteGate) < order.index(MetricsRoute)


def test_a_worker_that_counted_nothing_yet_still_shows_the_series(tmp_path: Path) -> None:
    """Multiprocess mode, before any event: the scrape shows the commands counter at 0, not no counter at all."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    scrape = "from sandbox.metrics.scrape import event_families, exposition; print(exposition(event_families()).decode())"
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True, text=True).stdout
    assert 'sandbox_commands_started_total{mode="session"} 0.0' in text, text


def test_every_refusal_reason_is_a_series_from_the_start() -> None:
    """A rate over refusals needs two samples of the series: one that appears with its first refusal gives no rate."""
    families = {family.name: family for family in SandboxMetrics().registry.collect()}
    samples = families["sandbox_requests_refused"].samples
    reasons = {sample.labels["reason"]: sample.value for sample in samples if sample.name.endswith("_total")}
    assert reasons == dict.fromkeys(metrics.REFUSALS, 0.0)
