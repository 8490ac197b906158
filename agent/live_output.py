r"""Live `execute` output for clients, while the command runs.

The backend is not told which tool call it serves, so this middleware wraps each
`execute` call: it puts a sink for that call in `sandbox.runs.live_output`'s context
variable, and the sandbox feeds it coalesced chunks of the command's output
(contextvars follow the call into `asyncio.to_thread`). Each chunk goes out as

- a `custom` stream event (`stream_mode="custom"` on the runs API)::

      {"type": "execute_output", "tool_call_id": "call_…", "chunk": "line 1\n"}

- and a `tool-output-delta` on the `tools` channel of the v2 event-streaming
  endpoints (`/threads/{id}/stream/events`), whose `delta` is the chunk.

Both writers are no-ops when the client did not ask for that stream. The final
tool message is unchanged: the chunks are a preview of what it will contain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from sandbox.runs.live_output import LiveSink, streaming_to

EXECUTE_OUTPUT_EVENT = "execute_output"
"""The `type` of the custom stream events that carry live `execute` output."""

_STREAMED_TOOLS = frozenset({"execute", "start_process"})
"""`start_process` streams the first moment of its process's output, like `execute` all of its own."""

ToolResult = ToolMessage | Command[Any]


class ExecuteOutputEvent(TypedDict):
    """One chunk of a running command's output, as a `custom` stream event."""

    type: str
    """Always `"execute_output"`."""
    tool_call_id: str
    """The `execute` tool call this output belongs to (the AI message's tool call id)."""
    chunk: str
    """Output text in the order produced (stdout and stderr merged, as in the tool result)."""


class LiveOutputMiddleware(AgentMiddleware):
    """Streams `execute` output to clients as it is produced (see the module docstring)."""

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        """Run the tool with this call's sink installed."""
        with streaming_to(_sink_for(request)):
            return handler(request)

    async def awrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
        """Async version of `wrap_tool_call`."""
        with streaming_to(_sink_for(request)):
            return await handler(request)


def _sink_for(request: ToolCallRequest) -> LiveSink | None:
    """A sink that sends chunks to the run's custom stream and the call's tool-output deltas."""
    tool_call_id = request.tool_call.get("id")
    runtime = request.runtime
    if request.tool_call.get("name") not in _STREAMED_TOOLS or not tool_call_id or runtime is None:
        return None
    write_custom = runtime.stream_writer

    def sink(chunk: str) -> None:
        event: ExecuteOutputEvent = {"type": EXECUTE_OUTPUT_EVENT, "tool_call_id": tool_call_id, "chunk": chunk}
        write_custom(event)
        # Reads the tools-channel writer LangGraph installs for this tool call; the
        # sandbox calls the sink inside a copy of the tool call's context.
        runtime.emit_output_delta(chunk)

    return sink
