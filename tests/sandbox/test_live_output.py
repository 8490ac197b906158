"""Live command output: the streaming runner, offloaded commands and the coalescer, on real Docker."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.runs.live_output import EVENT_INTERVAL_SECONDS, MAX_EVENT_BYTES, LiveOutput, streaming_to

CAPTURE = "/workspace/.deepagents/large_tool_results/call_live"
SLOW_LINES = "for i in 1 2 3 4; do echo line $i; sleep 1; done"
FLOOD = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 60000000; echo flooded"
_NOTE_ROOM = 200
"""Room for the in-band "bytes not shown live" note in an event."""


class Recorder:
    """A live sink that stamps each chunk with its arrival time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, chunk: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), chunk))

    @property
    def text(self) -> str:
        return "".join(chunk for _, chunk in self.events)


@pytest.fixture(params=["ephemeral", "session"])
def any_mode(request: pytest.FixtureRequest, settings: SandboxSettings):
    deployment = SandboxDeployment(settings.with_overrides(mode=request.param))
    yield deployment
    deployment.close(remove_sessions=True)


def _first_line_at(recorder: Recorder, needle: str) -> float:
    return next(at for at, chunk in recorder.events if needle in chunk)


def test_output_streams_while_the_command_runs(any_mode: SandboxDeployment) -> None:
    box = DockerSandbox("live-plain", any_mode)
    box.execute("true")  # warm up (session container, image check)
    recorder = Recorder()
    started = time.monotonic()
    with streaming_to(recorder):
        result = box.execute(SLOW_LINES)
    finished = time.monotonic()
    assert result.exit_code == 0
    assert result.output == "line 1\nline 2\nline 3\nline 4\n"  # the result is unchanged
    assert recorder.text == result.output
    first = _first_line_at(recorder, "line 1")
    assert first - started < 2.0, recorder.events
    assert finished - first > 2.0, "the first line must arrive while the command still runs"
    assert len(recorder.events) >= 3, recorder.events


def test_offloaded_command_streams_and_offloads_as_before(any_mode: SandboxDeployment, settings: SandboxSettings) -> None:
    box = DockerSandbox("live-offload", any_mode)
    command = "for i in 1 2 3; do echo start $i; sleep 1; done; seq 1 20000; exit 3"
    quiet = box.execute_with_offload(command, CAPTURE + "_quiet", max_inline_bytes=2000)
    recorder = Recorder()
    started = time.monotonic()
    with streaming_to(recorder):
        live = box.execute_with_offload(command, CAPTURE, max_inline_bytes=2000)
    finished = time.monotonic()
    # Offload, preview, exit code and file are exactly what they are without live output.
    assert (live.offloaded, live.response.exit_code, live.response.truncated) == (quiet.offloaded, 3, quiet.response.truncated)
    assert live.offloaded is True
    assert live.response.output == quiet.response.output
    workspace = settings.workspaces_dir / "live-offload" / ".deepagents" / "large_tool_results"
    assert (workspace / "call_live").read_bytes() == (workspace / "call_live_quiet").read_bytes()
    # ...and the output reached the sink while the command ran: the raw lines, not the wrapper's preview.
    assert finished - _first_line_at(recorder, "start 1") > 1.5, recorder.events
    assert _first_line_at(recorder, "start 1") - started < 2.0
    assert recorder.text.startswith("start 1\nstart 2\nstart 3\n1\n2\n")
    assert "__DEEPAGENTS_EXEC_META__" not in recorder.text
    # The burst of 20,000 lines is more than one event carries: the rest is skipped live, and said so.
    assert recorder.text.count("bytes not shown live") <= 1


def test_small_offload_result_stays_inline_with_live_output(deployment: SandboxDeployment) -> None:
    recorder = Recorder()
    with streaming_to(recorder):
        result = DockerSandbox("live-inline", deployment).execute_with_offload("echo small; exit 3", CAPTURE, max_inline_bytes=2000)
    assert (result.offloaded, result.response.output, result.response.exit_code) == (False, "small\n", 3)
    assert recorder.text == "small\n"


def test_python_output_is_unbuffered(deployment: SandboxDeployment) -> None:
    recorder = Recorder()
    with streaming_to(recorder):
        command = "python3 -c \"import time; print('early'); time.sleep(3); print('late')\""
        result = DockerSandbox("live-python", deployment).execute(command)
    finished = time.monotonic()
    assert result.output == "early\nlate\n"
    assert finished - _first_line_at(recorder, "early") > 2.0, recorder.events


@pytest.mark.parametrize("offload", [False, True], ids=["plain", "offload"])
def test_flood_is_capped_and_live_events_stay_bounded(any_mode: SandboxDeployment, settings: SandboxSettings, *, offload: bool) -> None:
    box = DockerSandbox("live-flood", any_mode)
    recorder = Recorder()
    started = time.monotonic()
    with streaming_to(recorder):
        if offload:
            result = box.execute_with_offload(FLOOD, CAPTURE, max_inline_bytes=2000)
            response = result.response
            assert result.offloaded is True
        else:
            response = box.execute(FLOOD)
    elapsed = time.monotonic() - started
    assert response.truncated is True
    if not offload:
        assert f"[Output capped at {settings.max_output_bytes} bytes]" in response.output
    # Bounded events per second and bytes per event; the live total is capped at the source too.
    assert 1 <= len(recorder.events) <= elapsed / EVENT_INTERVAL_SECONDS + 2, (len(recorder.events), elapsed)
    assert max(len(chunk.encode()) for _, chunk in recorder.events) <= MAX_EVENT_BYTES + _NOTE_ROOM
    assert "bytes not shown live" in recorder.text
    assert sum(len(chunk.encode()) for _, chunk in recorder.events) <= settings.max_output_bytes + 1 + _NOTE_ROOM * len(recorder.events)


def test_output_that_fits_inline_runs_the_command_alone_with_or_without_a_sink(deployment: SandboxDeployment) -> None:
    """deepagents' capture wrapper (and a tee for live output) is a dozen processes around each command: not for output that fits inline."""
    box = DockerSandbox("live-alone", deployment)
    quiet = box.execute_with_offload("ps -o args= -A", CAPTURE, max_inline_bytes=20000)
    recorder = Recorder()
    with streaming_to(recorder):
        live = box.execute_with_offload("ps -o args= -A", CAPTURE, max_inline_bytes=20000)
    for result in (quiet, live):
        assert result.offloaded is False
        assert "__da_" not in result.response.output, result.response.output
        assert "tee" not in result.response.output.split(), result.response.output
    assert "ps -o args= -A" in recorder.text


# -- the coalescer on its own ----------------------------------------------------------


def test_coalescer_bounds_events_and_bytes() -> None:
    recorder = Recorder()
    with LiveOutput(recorder, interval=0.2, max_event_bytes=1000) as live:
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            live.feed(b"x" * 100)
            time.sleep(0.001)
    assert len(recorder.events) <= 1.0 / 0.2 + 2
    assert all(len(chunk) <= 1000 + _NOTE_ROOM for _, chunk in recorder.events)
    assert "bytes not shown live" in recorder.text


def test_coalescer_sends_the_first_chunk_at_once_and_keeps_characters_whole() -> None:
    recorder = Recorder()
    with LiveOutput(recorder, interval=5.0) as live:
        fed = time.monotonic()
        live.feed("é".encode()[:1])
        live.feed("é".encode()[1:] + b"\n")
        deadline = time.monotonic() + 2
        while not recorder.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.events, "the first chunk must not wait for the interval"
        assert recorder.events[0][0] - fed < 0.5
        live.feed(b"tail\n")
    assert recorder.text == "é\ntail\n"  # the last chunk is delivered on close, without waiting 5 s


def test_a_failing_sink_never_breaks_the_command(deployment: SandboxDeployment) -> None:
    def broken(chunk: str) -> None:
        raise RuntimeError("client went away")

    with streaming_to(broken):
        result = DockerSandbox("live-broken", deployment).execute("echo still works")
    assert (result.exit_code, result.output) == (0, "still works\n")
