"""The POSIX `sh` wrapper every command runs under, and the decoding of its result.

The limits live *inside* the container on purpose. A host-side timeout only stops
our reader, so the process would keep running in a session container; `timeout -k`
inside kills the command's whole process group. Likewise `head -c` inside stops an
output flood at the source, so neither Docker's log files nor our memory grow
with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from deepagents.backends.protocol import ExecuteResponse

KILL_GRACE_SECONDS = 2
"""How long `timeout` waits after SIGTERM before it sends SIGKILL."""

HOST_DEADLINE_SLACK_SECONDS = 15
"""Seconds past the in-container deadline before the host gives up waiting."""


def host_deadline(timeout: int) -> float:
    """When the host stops waiting for (and kills) a command whose in-container timeout is `timeout`."""
    return timeout + KILL_GRACE_SECONDS + HOST_DEADLINE_SLACK_SECONDS


# $1 timeout seconds, $2 byte cap (+1 so we can tell "exactly the cap" from "more"),
# $3 the command. fd 3 is the result (container stdout); the wrapper's own
# diagnostics go to the result too (2>&1), so nothing reaches the container's stderr.
# fd 4 carries the command's exit status out of the pipeline; it is closed for
# the command itself so the command cannot forge its own status.
# GNU `head` writes through stdio, which holds a pipe's output until exit; under
# `stdbuf -o0` (coreutils, where the image has it) each read is passed on at once,
# so the result is also the command's live output.
WRAPPER_SCRIPT = f"""\
exec 3>&1 2>&1
unbuffered=; command -v stdbuf >/dev/null && unbuffered="stdbuf -o0"
status=$( {{ {{ timeout -k {KILL_GRACE_SECONDS} "$1" sh -c "$3" 3>&- 4>&- </dev/null; echo $? >&4; }} 2>&1 \
| $unbuffered head -c "$2" >&3; }} 4>&1 )
exit "${{status:-1}}"
"""


TIMEOUT_EXIT_CODE = 124
KILLED_EXIT_CODE = 137
"""What a SIGKILLed command exits with: an OOM kill, `timeout`'s last resort, or its container removed under it."""


def wrapped_argv(command: str, *, timeout_seconds: int, max_output_bytes: int) -> list[str]:
    """The argv that runs `command` under the wrapper (as container cmd or exec)."""
    return ["sh", "-c", WRAPPER_SCRIPT, "sandbox", str(timeout_seconds), str(max_output_bytes + 1), command]


def capped_request(command: str, *, timeout_seconds: int, max_output_bytes: int) -> dict[str, object]:
    """The same limits for the session's command runner, without the wrapper's pipeline.

    `timeout` alone runs the command (same deadline, grace and exit codes); the
    runner merges stderr into stdout and stops reading past the cap, as `head -c`
    does. That is five processes fewer per command: subshells, `stdbuf`, `head`.
    """
    argv = ["timeout", "-k", str(KILL_GRACE_SECONDS), str(timeout_seconds), "sh", "-c", command]
    return {"capped_argv": argv, "cap": max_output_bytes + 1}


@dataclass(frozen=True)
class RawResult:
    """What came back from Docker for one wrapped command."""

    output: bytes
    exit_code: int | None
    started_at: float
    finished_at: float
    container_removed: bool = False
    """The command's container was stopped or removed while it ran (a thread delete, an operator), not an OOM kill."""
    flooded: bool = False
    """The command wrote past the output cap around the wrapper, so the host stopped reading and stopped it."""

    @classmethod
    def timed(
        cls, started_at: float, output: bytes, exit_code: int | None, *, container_removed: bool = False, flooded: bool = False
    ) -> RawResult:
        """Stamp the finish time now."""
        return cls(
            output=output,
            exit_code=exit_code,
            started_at=started_at,
            finished_at=time.monotonic(),
            container_removed=container_removed,
            flooded=flooded,
        )


def to_execute_response(raw: RawResult, *, timeout_seconds: int, max_output_bytes: int, memory_bytes: int) -> ExecuteResponse:
    """Decode output, apply the cap flag, and explain timeouts and kills in-band."""
    data = raw.output
    truncated = len(data) > max_output_bytes
    if truncated:
        data = data[:max_output_bytes]
    text = data.decode("utf-8", errors="replace")
    exit_code = raw.exit_code
    elapsed = raw.finished_at - raw.started_at
    # `timeout` exits 124 after SIGTERM, 137 when it had to SIGKILL; an OOM kill is
    # also 137 but happens before the deadline, so elapsed time tells them apart.
    if raw.flooded:
        truncated = True
        text += (
            f"\n[Command was stopped: it wrote more than the output cap of {max_output_bytes} bytes "
            "(SANDBOX_MAX_OUTPUT_BYTES) around the sandbox's own limit, so the server stopped reading]"
        )
    elif exit_code in (TIMEOUT_EXIT_CODE, KILLED_EXIT_CODE) and elapsed >= timeout_seconds - 0.25:
        exit_code = TIMEOUT_EXIT_CODE
        text += f"\n[Command timed out after {timeout_seconds}s and was killed]"
    elif raw.container_removed:
        exit_code = KILLED_EXIT_CODE
        text += "\n[Command was killed: its sandbox container was stopped or removed while it ran"
        text += " (the thread was deleted, or an operator removed it)]"
    elif exit_code == KILLED_EXIT_CODE:
        text += f"\n[Command was killed (SIGKILL); the sandbox memory limit is {memory_bytes // 1024**2} MiB]"
    if truncated:
        text += f"\n[Output capped at {max_output_bytes} bytes]"
    return ExecuteResponse(output=text, exit_code=exit_code, truncated=truncated)
