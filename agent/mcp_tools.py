"""The administrator's MCP servers as agent tools: `<server>__<tool>`, each call through the permission policy.

Which tools a server offers is known only once it runs, and a command server runs
inside a thread's sandbox, so the tools cannot be fixed when the graph is built.
LangChain's dynamic tools fit: `McpToolsMiddleware` adds the servers' tools to every
model call, and `McpCalls` runs a call of one of them. The tools themselves are
langchain-mcp-adapters' (`convert_mcp_tool_to_langchain_tool`), bound not to one
`ClientSession` but to a `ThreadSession`, which sends each call through the session of
the thread that makes it. `McpCalls` sits inside the
approval gate (`ApprovalGate(inner=...)`), so an MCP call runs only once the policy
allowed it or a reviewer approved it, exactly like a built-in tool; by default every
MCP call asks (`agent.approval_policy`).

A server's tool list is read once per server process, through the first thread that
needs it (the list is the same in every thread: same command, same image), so later
threads start their own copy of a server only when they call one of its tools; it is
read again after the server says it changed (`notifications/tools/list_changed`).
A server that cannot start, or that ends during a call, gives the model an error
result saying so, and the run goes on; a server that cannot start while tools are
listed is left out of model calls for `LIST_RETRY_SECONDS` (and logged). Everything here is async: no
blocking I/O on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from langgraph.types import Command
from mcp import ClientSession
from mcp.types import CallToolResult, EmbeddedResource, ImageContent, TextContent, Tool

from config.mcp import McpServer, enabled_mcp_servers, mcp_tool_name, server_of
from sandbox.disks.workspace import ThreadRef
from sandbox.mcp.launch import McpUnavailableError
from sandbox.mcp.sessions import McpSessions
from sandbox.runs.errors import SandboxError
from sandbox.runs.run_context import current_thread_ref

logger = logging.getLogger(__name__)

LIST_RETRY_SECONDS = 60.0
"""After a server failed to list its tools, model calls leave it out this long before trying again,
so a broken server does not make every turn of every thread wait for it to fail."""
MAX_RESULT_CHARS = 64 * 1024
"""Most of one MCP result the model reads; the rest is cut with a note."""


def result_text(result: CallToolResult) -> str:
    """What the model reads of an MCP result: its text parts, and a line for each part that is not text."""
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, TextContent):
            parts.append(item.text)
        elif isinstance(item, ImageContent):
            parts.append(f"[image, {item.mimeType}, {len(item.data)} base64 characters]")
        elif isinstance(item, EmbeddedResource):
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        else:
            parts.append(f"[{item.type}]")
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > MAX_RESULT_CHARS:
        text = f"{text[:MAX_RESULT_CHARS]}\n[cut: the result had {len(text)} characters]"
    return text


class McpCatalog:
    """The configured servers, their tools (listed once per process) and the thread sessions that run them."""

    def __init__(self, servers: tuple[McpServer, ...], sessions: McpSessions, default_image: str, call_seconds: float) -> None:
        self.servers = {server.name: server for server in servers}
        self.sessions = sessions
        self.default_image = default_image
        self.call_seconds = call_seconds
        """Longest one MCP call may take (the sandbox's longest command)."""
        self._listed: dict[str, tuple[int, list[Tool]]] = {}
        """Each server's tools, and the `tool_list_version` they were read at."""
        self._converted: dict[str, tuple[list[Tool], list[BaseTool]]] = {}
        """Each server's agent tools, and the listing they were made from (made again only when it changes)."""
        self._failed: dict[str, float] = {}
        """When each server last failed to list its tools (`time.monotonic()`)."""
        self._listing = asyncio.Lock()

    @property
    def names(self) -> frozenset[str]:
        """The configured servers' names."""
        return frozenset(self.servers)

    def thread(self) -> ThreadRef:
        """The running thread (and user, and image): sessions are per thread."""
        return current_thread_ref(default_image=self.default_image)

    def _cached(self, server: McpServer) -> list[Tool] | None:
        """`server`'s remembered tools, unless it said they changed since they were read."""
        version, tools = self._listed.get(server.name, (-1, None))
        return tools if version == self.sessions.tool_list_version(server.name) else None

    async def listed(self, ref: ThreadRef, server: McpServer) -> list[Tool]:
        """`server`'s tools, read through `ref`'s session the first time (and after it says they changed), remembered after."""
        if (tools := self._cached(server)) is not None:
            return tools
        async with self._listing:
            if (tools := self._cached(server)) is None:
                version = self.sessions.tool_list_version(server.name)  # before reading: a change meanwhile reads again
                tools = await self.sessions.list_tools(ref, server)
                self._listed[server.name] = (version, tools)
                logger.info("MCP server %r offers %d tool(s): %s", server.name, len(tools), ", ".join(t.name for t in tools))
        return tools

    async def agent_tools(self, ref: ThreadRef, server: McpServer) -> list[BaseTool]:
        """`server`'s tools as agent tools, made once per listing.

        Every model call offers them; converting each tool's schema again would cost every turn CPU for nothing.
        """
        listed = await self.listed(ref, server)
        made = self._converted.get(server.name)
        if made is None or made[0] is not listed:
            made = (listed, [self._tool(server, tool) for tool in listed])
            self._converted[server.name] = made
        return made[1]

    async def tools(self, enabled: frozenset[str] | None = None) -> list[BaseTool]:
        """The tools of every configured server (of those in `enabled`, when given) as agent tools.

        A server that cannot be listed is skipped (logged).
        """
        ref = self.thread()
        found: list[BaseTool] = []
        for server in self.servers.values():
            if enabled is not None and server.name not in enabled:
                continue
            if (
                server.name not in self._listed
                and time.monotonic() - self._failed.get(server.name, -LIST_RETRY_SECONDS) < LIST_RETRY_SECONDS
            ):
                continue
            try:
                found += await self.agent_tools(ref, server)
            except Exception as exc:  # whatever went wrong, the run goes on without this server's tools
                self._failed[server.name] = time.monotonic()
                unexpected = not isinstance(exc, SandboxError)
                logger.warning("MCP server %r left out of this model call: %s", server.name, exc, exc_info=unexpected)
        return found

    async def tool(self, name: str, enabled: frozenset[str] | None = None) -> BaseTool | str:
        """The agent tool called `name` (of a server in `enabled`, when given), or why there is none (for the model to read)."""
        server = self.servers.get(server_of(name) or "")
        if server is None:
            return f"{name} is not a tool of any configured MCP server"
        if enabled is not None and server.name not in enabled:
            return f"MCP server {server.name!r} is not enabled for this assistant (its mcp_servers); {name} did not run"
        try:
            tools = await self.agent_tools(self.thread(), server)
        except Exception as exc:  # the model reads why, and the run goes on
            unexpected = not isinstance(exc, SandboxError)
            logger.warning("MCP server %r could not list its tools for a call: %s", server.name, exc, exc_info=unexpected)
            return str(exc) or type(exc).__name__
        for tool in tools:
            if tool.name == name:
                return tool
        return f"MCP server {server.name!r} offers no tool {name!r}; offered: {[tool.name for tool in tools]}"

    def _tool(self, server: McpServer, tool: Tool) -> BaseTool:
        """langchain-mcp-adapters' tool for `tool`, calling through the running thread's own session (`ThreadSession`)."""
        description = tool.description or tool.title or tool.name
        listed = tool.model_copy(update={"description": f"[MCP server {server.name}] {description}"[:4000]})
        session = cast("ClientSession", ThreadSession(self, server))
        converted = convert_mcp_tool_to_langchain_tool(session, listed, server_name=server.name)
        converted.name = mcp_tool_name(server.name, tool.name)
        return converted


class ThreadSession:
    """What langchain-mcp-adapters' tools call (`session.call_tool`): the running thread's session of one server.

    The adapters bind a tool to one `ClientSession`; here every call finds the session of the
    thread that makes it (`McpSessions`: started on first use, audited, kept in use while it
    runs). What comes back is made safe for any model first: text only (`result_text`), and
    a server that is unavailable or ends mid-call is an error result, which the adapters hand
    to the model as a failed tool call (an exception would fail the run).
    """

    def __init__(self, catalog: McpCatalog, server: McpServer) -> None:
        self.catalog = catalog
        self.server = server

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **_: Any) -> CallToolResult:
        """Run `name` in the calling thread's session (progress callbacks the adapters pass are not forwarded)."""
        try:
            result = await self.catalog.sessions.call_tool(
                self.catalog.thread(), self.server, name, dict(arguments or {}), self.catalog.call_seconds
            )
        except McpUnavailableError as exc:
            note = f"Error: {exc}. The tool did not run; it may work again on a later call."
            return CallToolResult(content=[TextContent(type="text", text=note)], isError=True)
        text = result_text(result) or (f"{name} failed without saying why" if result.isError else "")
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structuredContent=result.structuredContent, isError=result.isError
        )


class McpToolsMiddleware(AgentMiddleware[Any, Any, Any]):
    """Adds the MCP servers' tools to every model call (async runs; a sync run sees none)."""

    def __init__(self, catalog: McpCatalog) -> None:
        super().__init__()
        self.catalog = catalog

    async def awrap_model_call(  # noqa: D102
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> Any:
        taken = {getattr(tool, "name", None) for tool in request.tools}
        extra = [tool for tool in await self.catalog.tools(enabled_mcp_servers(request.runtime.context)) if tool.name not in taken]
        return await handler(request.override(tools=[*request.tools, *extra]) if extra else request)


class McpCalls(AgentMiddleware[Any, Any, Any]):
    """Runs a call of an MCP tool; everything else goes to `inner` (or the tool). Placed inside the approval gate."""

    def __init__(self, catalog: McpCatalog, inner: AgentMiddleware[Any, Any, Any] | None = None) -> None:
        super().__init__()
        self.catalog = catalog
        self.inner = inner

    def _is_mcp(self, request: ToolCallRequest) -> bool:
        return request.tool is None and server_of(request.tool_call["name"]) in self.catalog.names

    def wrap_tool_call(  # noqa: D102
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]
    ) -> ToolMessage | Command[Any]:
        if self._is_mcp(request):
            return _error(request.tool_call, "MCP tools run only in async runs of the served graph")
        return self.inner.wrap_tool_call(request, handler) if self.inner is not None else handler(request)

    async def awrap_tool_call(  # noqa: D102
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
    ) -> ToolMessage | Command[Any]:
        if not self._is_mcp(request):
            return await self.inner.awrap_tool_call(request, handler) if self.inner is not None else await handler(request)
        tool = await self.catalog.tool(request.tool_call["name"], enabled_mcp_servers(request.runtime.context))
        if isinstance(tool, str):
            return _error(request.tool_call, tool)
        return await handler(request.override(tool=tool))


def _error(call: Mapping[str, Any], text: str) -> ToolMessage:
    return ToolMessage(content=f"Error: {text}", tool_call_id=str(call.get("id") or ""), name=str(call.get("name")), status="error")
