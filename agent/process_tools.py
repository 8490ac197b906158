"""The agent's background-process tools: `start_process`, `list_processes`, `process_output`, `send_input`, `stop_process`.

`execute` must finish inside its timeout; a dev server or a watcher never does.
These tools hand such a command to the thread's `ProcessManager`
(`sandbox.processes`) and return at once with a process id. Every call acts on
the thread (and user) of the run making it, never on ids from the model's input
alone: a process id of another thread is simply not found.

`start_process` is gated like `execute` (`agent.approval_policy`), and its first
moment of output reaches clients live like `execute`'s (`agent.live_output`).
Docker calls run on the deployment's command pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from sandbox.processes.manager import ProcessManager
from sandbox.processes.records import ProcessRecord
from sandbox.runs.errors import SandboxError
from sandbox.runs.live_output import live_output_sink
from sandbox.runs.run_context import current_thread_ref

FIRST_OUTPUT_SECONDS = 1.5
"""How long `start_process` watches a new process before it answers: enough to show a startup error or banner."""
MAX_TOOL_OUTPUT_BYTES = 16 * 1024
"""Most output one `process_output` call returns; the model asks again with the next offset."""


def _describe(record: ProcessRecord) -> str:
    state = "running" if record.state == "running" else f"ended ({record.end_reason or 'exited'}, exit code {record.exit_code})"
    return f"{record.process_id}: {state} — {record.command}"


def process_tools(processes: ProcessManager) -> list[BaseTool]:
    """The five tools, bound to one deployment's processes."""
    settings = processes.settings

    async def off_loop[T](user_id: str, fn: Callable[..., T], *args: Any) -> T:
        return await processes.deployment.commands.run(user_id, fn, *args)

    async def start_process(command: str) -> str:
        ref = current_thread_ref(default_image=settings.image)
        try:
            record = await off_loop(ref.user_id, processes.start, ref, command)
            first = await _first_output(ref.user_id, record)
        except SandboxError as exc:
            return f"Error: the process did not start: {exc}"
        tail = f"\nFirst output:\n{first}" if first else "\n(no output yet)"
        return (
            f"Started background process {record.process_id} in /workspace: {command}\n"
            f"It keeps running after this call. Read its output with process_output(process_id={record.process_id!r}, since=0), "
            f"write to its stdin with send_input, end it with stop_process.{tail}"
        )

    async def _first_output(user_id: str, record: ProcessRecord) -> str:
        """Watch the new process briefly; each new piece also goes to the live stream, like `execute` output."""
        sink, seen, deadline = live_output_sink.get(), 0, time.monotonic() + FIRST_OUTPUT_SECONDS
        pieces: list[str] = []
        while True:
            current, data, _, after = await off_loop(
                user_id, processes.output, record.thread_id, record.process_id, seen, MAX_TOOL_OUTPUT_BYTES
            )
            if data:
                text = data.decode(errors="replace")
                pieces.append(text)
                if sink is not None:
                    sink(text)
            seen = after
            if current.state != "running" or time.monotonic() >= deadline or seen >= MAX_TOOL_OUTPUT_BYTES:
                if current.state != "running":
                    pieces.append(f"\n[process ended: exit code {current.exit_code}]")
                return "".join(pieces)
            await asyncio.sleep(0.25)

    async def list_processes() -> str:
        ref = current_thread_ref(default_image=settings.image)
        records = await off_loop(ref.user_id, processes.of_thread, ref.thread_id)
        if not records:
            return "No background processes in this thread."
        return "\n".join(_describe(record) for record in records)

    async def process_output(process_id: str, since: int = 0) -> str:
        ref = current_thread_ref(default_image=settings.image)
        try:
            record, data, start, after = await off_loop(
                ref.user_id, processes.output, ref.thread_id, process_id, since, MAX_TOOL_OUTPUT_BYTES
            )
        except SandboxError as exc:
            return f"Error: {exc}"
        note = f"[bytes {since}..{start} were dropped: only the latest output is kept]\n" if start > since else ""
        more = "" if after >= record.read else " (more output waits: call again with this offset)"
        return f"{_describe(record)}\n{note}{data.decode(errors='replace')}\n[next since={after}{more}]"

    async def send_input(process_id: str, text: str) -> str:
        ref = current_thread_ref(default_image=settings.image)
        try:
            await off_loop(ref.user_id, processes.send_input, ref.thread_id, process_id, text)
        except SandboxError as exc:
            return f"Error: {exc}"
        return f"Wrote {len(text.encode())} bytes to the stdin of {process_id}."

    async def stop_process(process_id: str) -> str:
        ref = current_thread_ref(default_image=settings.image)
        try:
            record = await off_loop(ref.user_id, processes.stop, ref.thread_id, process_id)
        except SandboxError as exc:
            return f"Error: {exc}"
        return _describe(record)

    return [
        StructuredTool.from_function(
            coroutine=start_process,
            name="start_process",
            description=(
                "Start a long-running shell command in the background (a dev server, a watcher, a long test run) in /workspace; "
                "returns at once with a process id while the command keeps running. Use execute for commands that finish."
            ),
        ),
        StructuredTool.from_function(
            coroutine=list_processes, name="list_processes", description="List this thread's background processes, running and ended."
        ),
        StructuredTool.from_function(
            coroutine=process_output,
            name="process_output",
            description="Read a background process's output (stdout and stderr) from byte offset `since`; the answer names the next one.",
        ),
        StructuredTool.from_function(
            coroutine=send_input, name="send_input", description="Write text to a background process's stdin (add a newline to end a line)."
        ),
        StructuredTool.from_function(
            coroutine=stop_process,
            name="stop_process",
            description="Stop a background process and everything it started (SIGTERM, then SIGKILL).",
        ),
    ]
