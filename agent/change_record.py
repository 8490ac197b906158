"""Each file tool call's result carries the change it made, as a diff, for the transcript.

The reviewer sees a diff while approving, but that text lives only in the
interrupt; once approved it was gone, and the transcript showed bare arguments
(the model's original ones when the reviewer had edited them). This middleware
reads the path before and after `write_file` / `edit_file` runs and puts the
unified diff of what really changed in the `ToolMessage`'s `artifact`, which is
kept in the thread's state and never sent to the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, override

from deepagents.backends.protocol import BackendProtocol
from langchain.agents.middleware import AgentMiddleware
from langchain.tools.tool_node import ToolCallRequest
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from agent.approval_descriptions import snapshot_of, unified_diff

CHANGING_TOOLS = ("write_file", "edit_file")


def change_artifact(path: str, before: str | None, after: str | None) -> dict[str, Any] | None:
    """The artifact for one call: None when the file's text did not change or cannot be diffed."""
    if after is None or before == after:
        return None
    diff, added, removed = unified_diff(path, before, after)
    return {"file_change": {"path": path, "diff": diff, "added": added, "removed": removed}}


def _with_artifact(result: ToolMessage | Command[Any], artifact: dict[str, Any] | None) -> ToolMessage | Command[Any]:
    if artifact is None or not isinstance(result, ToolMessage) or result.status == "error" or result.artifact is not None:
        return result
    return result.model_copy(update={"artifact": artifact})


def _path_of(request: ToolCallRequest) -> str | None:
    call = request.tool_call
    path = (call.get("args") or {}).get("file_path")
    return path if call["name"] in CHANGING_TOOLS and isinstance(path, str) and path else None


class ChangeRecordMiddleware(AgentMiddleware):
    """Adds `artifact={"file_change": {...}}` to successful file tool results (see the module docstring)."""

    def __init__(self, backend: BackendProtocol) -> None:
        super().__init__()
        self.backend = backend

    @override
    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]) -> Any:
        path = _path_of(request)
        if path is None:
            return handler(request)
        before = snapshot_of(self.backend.download_files([path])[0]).text
        result = handler(request)
        after = snapshot_of(self.backend.download_files([path])[0]).text
        return _with_artifact(result, change_artifact(path, before, after))

    @override
    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
    ) -> Any:
        path = _path_of(request)
        if path is None:
            return await handler(request)
        before = snapshot_of((await self.backend.adownload_files([path]))[0]).text
        result = await handler(request)
        after = snapshot_of((await self.backend.adownload_files([path]))[0]).text
        return _with_artifact(result, change_artifact(path, before, after))
