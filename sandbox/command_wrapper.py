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

# $1 timeout seconds, $2 byte cap (+1 so we can tell "exactly the cap" from "more"),
# $3 the command. fd 4 carries the command's exit status out of the pipeline; it is
# closed for the command itself so the command cannot forge its own status.
WRAPPER_SCRIPT = f"""\
exec 3>&1
status=$( {{ {{ timeout -k {KILL_GRACE_SECONDS} "$1" sh -c "$3" 3>&- 4>&- </dev/null; echo $? >&4; }} 2>&1 \
| head -c "$2" >&3; }} 4>&1 )
exit "${{status:-1}}"
"""

TIMEOUT_EXIT_CODE = 124
_KILLED_EXIT_CODE = 137


def wrapped_argv(command: str, *, timeout_seconds: int, max_output_bytes: int) -> list[str]:
    """The argv that runs `command` under the wrapper (as container cmd or exec)."""
    return ["sh", "-c", WRAPPER_SCRIPT, "sandbox", str(timeout_seconds), str(max_output_bytes + 1), command]


@dataclass(frozen=True)
class RawResult:
    """What came back from Docker for one wrapped command."""

    output: bytes
    exit_code: int | None
    started_at: float
    finished_at: float

    @classmethod
    def timed(cls, started_at: float, output: bytes, exit_code: int | None) -> RawResult:
        """Stamp the finish time now."""
        return cls(output=output, exit_code=exit_code, started_at=started_at, finished_at=time.monotonic())


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
    if exit_code in (TIMEOUT_EXIT_CODE, _KILLED_EXIT_CODE) and elapsed >= timeout_seconds - 0.25:
        exit_code = TIMEOUT_EXIT_CODE
        text += f"\n[Command timed out after {timeout_seconds}s and was killed]"
    elif exit_code == _KILLED_EXIT_CODE:
        text += f"\n[Command was killed (SIGKILL); the sandbox memory limit is {memory_bytes // 1024**2} MiB]"
    if truncated:
        text += f"\n[Output capped at {max_output_bytes} bytes]"
    return ExecuteResponse(output=text, exit_code=exit_code, truncated=truncated)
