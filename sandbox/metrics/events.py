"""The platform's Prometheus metrics (names start with `sandbox_`): one registry, emitted where the work happens.

Counters and histograms are bumped by the objects that do the work: the backend
when a command starts and ends, the user caps and disk budget when they refuse,
the server when a decision arrives or a response fails. What is a state rather
than an event (containers, disk use) is read when Prometheus scrapes, from the
same sources of truth the rest of the code uses: Docker's labels and the disk
images' metadata (`sandbox.metrics.scrape`).

Several server processes behind one port (Aegra's workers) each count their own
events; with `PROMETHEUS_MULTIPROC_DIR` set (the deployment's entry point does),
prometheus-client keeps every process's values in files there, and a scrape of
any process reads all of them (`sandbox.metrics.scrape.event_families`).

Labels are bounded (`BOUNDED_LABELS`): a mode, a state, an outcome, a reason, a
decision, a status code, and on the disk gauges the user id, which is bounded by
the number of users (the disk budget is per user, so that is what an operator
asks about). Never a thread, run, command or container id: those grow without end.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from sandbox.containers.command_wrapper import KILLED_EXIT_CODE, TIMEOUT_EXIT_CODE, RawResult
from sandbox.coordination.process_state import sandbox_process

PREFIX = "sandbox_"
MODES = ("ephemeral", "session")
OUTCOMES = ("finished", "timed_out", "killed", "failed")
"""How a command ended: it exited by itself (any exit code), hit its timeout, was SIGKILLed
(memory, output flood, container removed), or could not run (Docker, image, disk, caps)."""
REFUSALS = ("running_cap", "pool_share", "session_cap", "disk_budget", "disk_total", "store_search")
"""Why a request was refused or throttled before it did any work."""
DECISIONS = ("approve", "edit", "reject", "respond")
CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
TIMEOUT_SLACK_SECONDS = 0.25
"""A 124 this close to the timeout is the timeout's (as `command_wrapper.to_execute_response` decides)."""
OTHER = "other"
"""The value of a label whose input was none of its known values (so no input can add series)."""

BOUNDED_LABELS = frozenset({"mode", "outcome", "reason", "decision", "state", "status", "user"})
"""Every label any `sandbox_` metric may carry; a test checks the registry and the scrape against it."""


class SandboxMetrics:
    """The process's registry and its metrics; one per process, on `sandbox_process().metrics`.

    Apart from prometheus-client's global registry, which `langgraph dev` serves itself.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.commands_started = Counter("sandbox_commands_started", "Commands handed to a sandbox.", ["mode"], registry=registry)
        self.commands_ended = Counter("sandbox_commands_ended", "Commands that ended, by how.", ["mode", "outcome"], registry=registry)
        self.command_seconds = Histogram(
            "sandbox_command_duration_seconds",
            "Wall time of a command, from the start of its run to its result.",
            ["mode", "outcome"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=registry,
        )
        self.approval_wait_seconds = Histogram(
            "sandbox_approval_wait_seconds",
            "Time from a run pausing for approval to the reviewer's decision reaching the server.",
            ["decision"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
            registry=registry,
        )
        self.refused = Counter(
            "sandbox_requests_refused", "Requests refused or throttled before doing work, by reason.", ["reason"], registry=registry
        )
        self.server_errors = Counter(
            "sandbox_server_errors", "Responses with a 5xx status (or an unhandled exception).", ["status"], registry=registry
        )
        # Series that exist from the start, at 0: a dashboard and an alert see "none yet", not "no data".
        for mode in MODES:
            self.commands_started.labels(mode=mode)
        for reason in REFUSALS:
            self.refused.labels(reason=reason)
        self.server_errors.labels(status="500")


def _metrics() -> SandboxMetrics:
    return sandbox_process().metrics


def bounded(value: object, known: Iterable[str]) -> str:
    """`value` as a label value when it is one of `known`, else `other`."""
    text = str(value)
    return text if text in known else OTHER


def command_started(mode: str) -> None:
    """A command is about to run in a sandbox of `mode`."""
    _metrics().commands_started.labels(mode=bounded(mode, MODES)).inc()


def command_ended(mode: str, outcome: str, seconds: float) -> None:
    """A command ended (`OUTCOMES`) after `seconds`."""
    labels = {"mode": bounded(mode, MODES), "outcome": bounded(outcome, OUTCOMES)}
    metrics = _metrics()
    metrics.commands_ended.labels(**labels).inc()
    metrics.command_seconds.labels(**labels).observe(max(seconds, 0.0))


def command_outcome(raw: RawResult, exit_code: int | None, timeout_seconds: int) -> str:
    """Which of `OUTCOMES` a command that ran had, from Docker's result and the exit code the agent was given."""
    if raw.flooded or raw.container_removed or exit_code == KILLED_EXIT_CODE:
        return "killed"
    if exit_code == TIMEOUT_EXIT_CODE and raw.finished_at - raw.started_at >= timeout_seconds - TIMEOUT_SLACK_SECONDS:
        return "timed_out"
    return "finished" if exit_code is not None else "failed"


def refused(reason: str) -> None:
    """A request was refused for `reason` (`REFUSALS`)."""
    _metrics().refused.labels(reason=bounded(reason, REFUSALS)).inc()


def approval_decided(decision: str, waited_seconds: float) -> None:
    """A reviewer's decision arrived `waited_seconds` after the run paused for it."""
    _metrics().approval_wait_seconds.labels(decision=bounded(decision, DECISIONS)).observe(max(waited_seconds, 0.0))


def server_error(status: int) -> None:
    """The server answered with a 5xx `status`."""
    _metrics().server_errors.labels(status=str(status) if 500 <= status <= 599 else OTHER).inc()
