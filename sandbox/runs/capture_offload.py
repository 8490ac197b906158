"""deepagents' capture offload of `execute` output, with its shell wrapper only for output too big to return inline.

deepagents runs each `execute` of a `BaseSandbox` inside a POSIX sh wrapper that
writes the output to a file in the sandbox and prints all of it, or a preview
when it is bigger than the inline budget. That wrapper is a dozen processes
(subshells, `head`, `wc`, `cat`, `rm`) around every command: in a session
container about 18 ms more for a `cat` that takes 16 ms alone, and, since it
prints only at the end, live output needed a `tee` inside it as well.

Our commands come back whole anyway (capped at `SANDBOX_MAX_OUTPUT_BYTES`), so
the host decides. Output within the budget is the result, exactly what the
wrapper would have printed. Only bigger output is staged next to the capture
path and run through deepagents' own wrapper (a `cat` of the staged file), so
the saved file, the preview and its truncation marker stay deepagents'; the
result keeps the command's exit code and truncation, not the `cat`'s.
"""

from __future__ import annotations

import shlex

from deepagents.backends.protocol import ExecuteOffloadResult, ExecuteResponse


def fits_inline(response: ExecuteResponse, max_inline_bytes: int) -> bool:
    """Whether the wrapper would print this output whole (it compares the captured bytes with the budget)."""
    return len(response.output.encode("utf-8", errors="surrogateescape")) <= max_inline_bytes


def staged_path(capture_path: str) -> str:
    """Where the whole output waits for the wrapper: next to the capture, so within the same folder and quota."""
    return f"{capture_path}.output"


def preview_command(staged: str) -> str:
    """The command deepagents' wrapper runs instead of the original: print the staged output once, then drop it."""
    quoted = shlex.quote(staged)
    return f"cat {quoted} && rm -f {quoted}"


def with_outcome_of(preview: ExecuteOffloadResult, command: ExecuteResponse) -> ExecuteOffloadResult:
    """The wrapper's file and preview, with the command's own exit code and truncation; the command's result if nothing was offloaded."""
    if not preview.offloaded:
        return ExecuteOffloadResult(offloaded=False, response=command)
    response = ExecuteResponse(
        output=preview.response.output,
        exit_code=command.exit_code,
        truncated=command.truncated or preview.response.truncated,
    )
    return ExecuteOffloadResult(offloaded=True, response=response, preview_has_truncation_marker=preview.preview_has_truncation_marker)
