"""What a reviewer reads before deciding: the interrupt description, computed on the server.

Studio, the SDK, curl and the web client all show `action_requests[i].description`,
so the text is built here once:

- `write_file` / `edit_file`: a unified diff against the file's current content
  (a new file shows all of its lines), with added/removed line counts;
- `delete`: the path, and whether it is a directory (deleted with everything in it);
- `execute`: the command, the working directory and the effective timeout.

HITL calls the description callable synchronously on the event loop, where
reading a file would block (and trips `langgraph dev`'s blocking-call guard).
So `ApprovalPreviewMiddleware` reads what the gated file tools would touch right
after the model answers, off the loop (`adownload_files` runs in a worker
thread), and keeps it per tool call; the callable only formats what was read.
On a resume the middleware has nothing for the call and the text says so: HITL
recomputes the description then but does not show it to anyone.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from deepagents.backends.protocol import BackendProtocol, FileDownloadResponse
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, ToolCall
from langgraph.config import get_config

from agent.approval_details import Details, details_of
from agent.path_snapshot import MAX_DESCRIPTION_CHARS, PathSnapshot, snapshot_of, unified_diff
from config.mcp import TOOL_SEPARATOR, server_of
from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import WORKSPACE_MOUNT
from sandbox.files.text_ops import replace_text

__all__ = ["MAX_DESCRIPTION_CHARS", "ApprovalPreviewMiddleware", "ApprovalPreviews", "PathSnapshot", "snapshot_of", "unified_diff"]

FILE_TOOLS = ("write_file", "edit_file", "delete")
"""Gated tools whose description depends on what is on disk now."""

MAX_REMEMBERED_CALLS = 2_048
"""Prepared descriptions kept per process; each is only needed until its interrupt is raised."""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _cut(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    kept = text[:MAX_DESCRIPTION_CHARS]
    hidden = text[MAX_DESCRIPTION_CHARS:].count("\n")
    return f"{kept}\n... (description cut: {_plural(hidden, 'more line')} not shown)"


def describe_write(path: str, content: str, before: PathSnapshot | None) -> str:
    """`write_file`: create or overwrite, as a diff."""
    if before is None:
        return f"write_file {path}: {_plural(len(content.splitlines()), 'line')} to write (current content not read)"
    if before.kind == "directory":
        return f"write_file {path}: this path is a directory; the write will fail"
    if before.kind == "unreadable":
        return f"write_file {path}: the current file could not be read ({before.problem})"
    if before.kind == "file" and before.text is None:
        diff, added, _ = unified_diff(path, None, content)
        return _cut(f"write_file {path}: replaces a binary file ({before.size} bytes) with {_plural(added, 'line')}\n\n{diff}")
    old = before.text if before.kind == "file" else None
    diff, added, removed = unified_diff(path, old, content)
    if old is None:
        summary = f"write_file {path}: new file, {_plural(added, 'line')}"
    elif not diff:
        summary = f"write_file {path}: overwrites the file with identical content"
    else:
        summary = f"write_file {path}: overwrites the file, +{added} -{removed} lines"
    return _cut(f"{summary}\n\n{diff}" if diff else summary)


def describe_edit(path: str, old_string: str, new_string: str, *, replace_all: bool, before: PathSnapshot | None) -> str:
    """`edit_file`: the replacement applied to the current content, as a diff."""
    if before is None:
        return f"edit_file {path}: replace {_plural(len(old_string.splitlines()), 'line')} (current content not read)"
    if before.kind != "file" or before.text is None:
        reason = {"missing": "the file does not exist", "directory": "this path is a directory"}.get(
            before.kind, before.problem or "the file is not text"
        )
        return f"edit_file {path}: {reason}; the edit will fail"
    result = replace_text(before.text, old_string, new_string, replace_all=replace_all)
    if isinstance(result, str):
        return f"edit_file {path}: the edit will fail: {result}"
    new_text, occurrences = result
    diff, added, removed = unified_diff(path, before.text, new_text)
    summary = f"edit_file {path}: {_plural(occurrences, 'replacement')}, +{added} -{removed} lines"
    return _cut(f"{summary}\n\n{diff}")


def describe_delete(path: str, before: PathSnapshot | None) -> str:
    """`delete`: which path, and whether it is a whole directory."""
    if before is None:
        return f"delete {path} (not checked whether it is a file or a directory)"
    if before.kind == "directory":
        return f"delete {path}: a DIRECTORY, removed with everything in it"
    if before.kind == "missing":
        return f"delete {path}: nothing exists at this path; the delete will fail"
    if before.kind == "unreadable":
        return f"delete {path}: {before.problem}"
    return f"delete {path}: a file of {before.size} bytes"


def describe_timeout(requested: object, settings: SandboxSettings | None) -> str:
    """`120 s (default)`, `300 s`, or `3600 s requested, runs with at most 1800 s`."""
    if settings is None:
        return "server default" if requested is None else f"{requested} s requested"
    if requested is None:
        return f"{settings.timeout_seconds} s (default)"
    if not isinstance(requested, int) or isinstance(requested, bool):
        return f"{requested!r} requested (not a number of seconds)"
    effective = settings.effective_timeout(requested)
    return f"{requested} s" if effective == requested else f"{requested} s requested, runs with at most {effective} s"


def describe_execute(command: str, timeout: object, settings: SandboxSettings | None) -> str:
    """`execute`: the command, where it runs and how long it may take."""
    limit = describe_timeout(timeout, settings)
    return f"execute in the sandbox\n\ncommand: {command}\nworking directory: {WORKSPACE_MOUNT}\ntimeout: {limit}"


def _thread_id() -> str:
    try:
        return str((get_config().get("configurable") or {}).get("thread_id") or "")
    except RuntimeError:
        return ""


def _file_calls(response: ModelResponse[Any] | AIMessage) -> list[ToolCall]:
    """The gated file tool calls of one model answer that name a path."""
    messages = [response] if isinstance(response, AIMessage) else getattr(response, "result", [])
    return [
        call
        for message in messages
        if isinstance(message, AIMessage)
        for call in message.tool_calls
        if call["name"] in FILE_TOOLS and call.get("id") and isinstance((call.get("args") or {}).get("file_path"), str)
    ]


def describe_other(name: str, args: Mapping[str, Any]) -> str:
    """Any other tool: its arguments; for an MCP tool (`<server>__<tool>`), its server and every argument as JSON."""
    if (server := server_of(name)) is not None:
        shown = json.dumps(args, indent=2, ensure_ascii=False, default=str)
        return _cut(f"call {name.removeprefix(server + TOOL_SEPARATOR)} of MCP server {server!r}\n\narguments:\n{shown}")
    return _cut(f"{name} " + ", ".join(f"{key}={value!r}" for key, value in args.items()))


class ApprovalPreviews:
    """Turns tool calls into reviewer descriptions; file-backed ones are prepared off the loop."""

    def __init__(self, backend: BackendProtocol, sandbox_settings: SandboxSettings | None = None) -> None:
        self.backend = backend
        self.sandbox_settings = sandbox_settings
        """Tells `execute` descriptions the effective timeout (None: an unsandboxed backend)."""
        self._prepared: OrderedDict[tuple[str, str], tuple[str, Details]] = OrderedDict()
        self._lock = threading.Lock()

    def text(self, tool_call: ToolCall, before: PathSnapshot | None) -> str:
        """The description of `tool_call`, given what its path held (`None`: not read)."""
        name, args = tool_call["name"], tool_call.get("args") or {}
        path = str(args.get("file_path", ""))
        if name == "write_file":
            return describe_write(path, str(args.get("content", "")), before)
        if name == "edit_file":
            old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
            return describe_edit(path, old, new, replace_all=bool(args.get("replace_all")), before=before)
        if name == "delete":
            return describe_delete(path, before)
        if name == "execute":
            return describe_execute(str(args.get("command", "")), args.get("timeout"), self.sandbox_settings)
        if name == "start_process":
            command = str(args.get("command", ""))
            intro = "start a background process in the sandbox (it keeps running after the call)"
            return f"{intro}\n\ncommand: {command}\nworking directory: {WORKSPACE_MOUNT}"
        return describe_other(name, args)

    # -- preparing (after the model call, off the event loop) -------------------

    def _prepare(self, thread_id: str, calls: list[ToolCall], answers: list[FileDownloadResponse]) -> None:
        prepared = {}
        for call, answer in zip(calls, answers, strict=False):
            before = snapshot_of(answer)
            prepared[str(call["id"])] = (self.text(call, before), details_of(call, before, self.sandbox_settings))
        with self._lock:
            for call_id, both in prepared.items():
                self._prepared[thread_id, call_id] = both
            while len(self._prepared) > MAX_REMEMBERED_CALLS:
                self._prepared.popitem(last=False)

    async def aprepare(self, response: ModelResponse[Any] | AIMessage) -> None:
        """Read the paths this answer's file tool calls name, and diff them, in worker threads."""
        if calls := _file_calls(response):
            answers = await self.backend.adownload_files([call["args"]["file_path"] for call in calls])
            await asyncio.to_thread(self._prepare, _thread_id(), calls, answers)

    def prepare(self, response: ModelResponse[Any] | AIMessage) -> None:
        """Sync graphs (no event loop to protect): the same, inline."""
        if calls := _file_calls(response):
            self._prepare(_thread_id(), calls, self.backend.download_files([call["args"]["file_path"] for call in calls]))

    # -- describing (HITL's sync callable: on the loop, no I/O) -----------------

    def _recall(self, tool_call: ToolCall) -> tuple[str, Details] | None:
        if tool_call["name"] not in FILE_TOOLS:
            return None
        with self._lock:
            return self._prepared.get((_thread_id(), str(tool_call.get("id"))))

    def describe(self, tool_call: ToolCall, state: object = None, runtime: object = None) -> str:  # noqa: ARG002 - HITL's signature
        """`InterruptOnConfig.description`: the prepared text, or one built without reading files."""
        prepared = self._recall(tool_call)
        return prepared[0] if prepared is not None else self.text(tool_call, None)

    def details(self, tool_call: ToolCall) -> Details:
        """The description's facts as data (`agent.approval_details`): prepared, or built without reading files."""
        prepared = self._recall(tool_call)
        return prepared[1] if prepared is not None else details_of(tool_call, None, self.sandbox_settings)

    def middleware(self) -> ApprovalPreviewMiddleware:
        """The middleware that prepares file descriptions after each model call."""
        return ApprovalPreviewMiddleware(self)


class ApprovalPreviewMiddleware(AgentMiddleware):
    """After each model call, reads what its gated file tool calls would change."""

    def __init__(self, previews: ApprovalPreviews) -> None:
        super().__init__()
        self.previews = previews

    def wrap_model_call(self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]) -> Any:  # noqa: D102
        response = handler(request)
        self.previews.prepare(response)
        return response

    async def awrap_model_call(  # noqa: D102
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> Any:
        response = await handler(request)
        await self.previews.aprepare(response)
        return response
