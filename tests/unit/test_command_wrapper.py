"""The in-container wrapper and the decoding of its result: timeout vs OOM kill vs truncation.

The wrapper is plain POSIX `sh` with coreutils' `timeout` and `head`, so its
behaviour is checked here by running it on the host, without a container.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from deepagents.backends.protocol import ExecuteResponse

from sandbox.containers.command_wrapper import TIMEOUT_EXIT_CODE, RawResult, to_execute_response, wrapped_argv

MIB = 1024**2

pytestmark = pytest.mark.skipif(not (shutil.which("timeout") and shutil.which("head")), reason="needs coreutils timeout and head")


def _run(command: str, *, timeout: int = 30, cap: int = 1024) -> RawResult:
    started = time.monotonic()
    argv = wrapped_argv(command, timeout_seconds=timeout, max_output_bytes=cap)
    proc = subprocess.run(argv, capture_output=True, check=False, timeout=60)
    return RawResult.timed(started, proc.stdout, proc.returncode)


def _decode(raw: RawResult, *, timeout: int = 30, cap: int = 1024) -> ExecuteResponse:
    return to_execute_response(raw, timeout_seconds=timeout, max_output_bytes=cap, memory_bytes=1024 * MIB)


def _raw(exit_code: int | None, elapsed: float, output: bytes = b"out") -> RawResult:
    return RawResult(output=output, exit_code=exit_code, started_at=100.0, finished_at=100.0 + elapsed)


# --- decoding --------------------------------------------------------------------------


def test_plain_exit_codes_pass_through() -> None:
    for code in (0, 1, 3, 127):
        result = _decode(_raw(code, 0.1))
        assert (result.exit_code, result.output, result.truncated) == (code, "out", False)


@pytest.mark.parametrize("code", [124, 137])
def test_a_kill_at_the_deadline_is_a_timeout(code: int) -> None:
    result = _decode(_raw(code, 30.0), timeout=30)
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert result.output.endswith("[Command timed out after 30s and was killed]")


def test_a_sigkill_before_the_deadline_is_the_memory_limit() -> None:
    result = _decode(_raw(137, 2.0), timeout=30)
    assert result.exit_code == 137
    assert result.output.endswith("[Command was killed (SIGKILL); the sandbox memory limit is 1024 MiB]")
    assert "timed out" not in result.output


def test_exit_124_before_the_deadline_is_the_commands_own_status() -> None:
    result = _decode(_raw(124, 1.0), timeout=30)
    assert (result.exit_code, result.output) == (124, "out")


def test_output_over_the_cap_is_cut_and_flagged() -> None:
    result = _decode(_raw(0, 0.1, b"x" * 1025), cap=1024)
    assert result.truncated
    assert result.output == "x" * 1024 + "\n[Output capped at 1024 bytes]"
    exact = _decode(_raw(0, 0.1, b"x" * 1024), cap=1024)
    assert not exact.truncated
    assert exact.output == "x" * 1024


def test_timeout_and_truncation_are_both_reported() -> None:
    result = _decode(_raw(124, 31.0, b"y" * 2000), timeout=30, cap=1024)
    assert result.truncated
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert result.output.endswith("timed out after 30s and was killed]\n[Output capped at 1024 bytes]")


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    result = _decode(_raw(0, 0.1, b"ok \xff\xfe end"))
    assert result.output == "ok \ufffd\ufffd end"


def test_no_exit_code_stays_none() -> None:
    assert _decode(_raw(None, 0.1)).exit_code is None


# --- the wrapper itself, run by the host's sh ------------------------------------------------


def test_wrapper_returns_the_commands_status_and_merges_stderr() -> None:
    raw = _run("echo out; echo err >&2; exit 7")
    assert raw.exit_code == 7
    assert sorted(raw.output.decode().split()) == ["err", "out"]


def test_the_command_cannot_forge_its_status() -> None:
    raw = _run("echo 0 >&4; echo 0 >&3; exit 5")
    assert raw.exit_code == 5


def test_wrapper_stops_an_endless_flood_at_the_source() -> None:
    raw = _run("yes", timeout=20, cap=1024)
    assert len(raw.output) == 1025  # one byte over the cap, so "more" is distinguishable from "exactly"
    assert raw.finished_at - raw.started_at < 10  # stopped by the closed pipe, not by the timeout
    assert raw.exit_code == 128 + 13  # SIGPIPE
    assert _decode(raw, cap=1024).truncated


def test_wrapper_times_out_and_decodes_as_a_timeout() -> None:
    raw = _run("echo started; sleep 30", timeout=1)
    assert raw.exit_code == TIMEOUT_EXIT_CODE
    assert raw.finished_at - raw.started_at < 15
    result = _decode(raw, timeout=1)
    assert result.output.startswith("started")
    assert result.output.endswith("[Command timed out after 1s and was killed]")


def test_wrapper_passes_the_command_as_one_argument() -> None:
    raw = _run("printf '%s|' \"$0\" a'b'c; echo")
    assert raw.exit_code == 0
    assert raw.output.decode().strip() == "sh|abc|"
