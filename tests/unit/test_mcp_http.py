"""Streamable-HTTP MCP servers through `McpSessions`: one session per thread, the admin's headers, no redirects.

The server is FastMCP on 127.0.0.1 in this process; no Docker is involved (HTTP servers
are not run in a sandbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from mcp.server.fastmcp import Context, FastMCP
from mcp.types import AudioContent, ImageContent, TextContent
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

from agent.mcp_tools import McpCatalog
from config.mcp import HttpServer
from sandbox import SandboxDeployment, ThreadRef
from sandbox.mcp.launch import McpUnavailableError
from tests.support.mcp_servers import http_server, serve_app
from tests.support.sandbox_settings import make_settings


def _app() -> FastMCP:
    app = FastMCP("who", stateless_http=False)

    @app.tool()
    def who(ctx: Context) -> str:  # type: ignore[type-arg]
        """Which session asks, and the X-Key header it came with."""
        request = ctx.request_context.request
        key = request.headers.get("x-key", "") if request is not None else ""
        return f"{id(ctx.session)} {key}"

    return app


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[SandboxDeployment]:
    deployment = SandboxDeployment(make_settings(tmp_path, "unused:image"))
    yield deployment
    deployment.close()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with http_server(_app()) as served:
        yield served


def _ref() -> ThreadRef:
    return ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image="unused:image")


async def _who(deployment: SandboxDeployment, ref: ThreadRef, server: HttpServer) -> list[str]:
    result = await deployment.mcp.call_tool(ref, server, "who", {}, 30)
    return "".join(getattr(item, "text", "") for item in result.content).split(" ")


async def test_each_thread_keeps_one_session_and_sends_the_admins_headers(deployment: SandboxDeployment, url: str) -> None:
    server = HttpServer(name="who", url=url, headers={"X-Key": "from-the-admin"})
    one, other = _ref(), _ref()
    first = await _who(deployment, one, server)
    assert first[1] == "from-the-admin"
    assert (await _who(deployment, one, server))[0] == first[0]
    assert (await _who(deployment, other, server))[0] != first[0]
    assert await deployment.mcp.close_thread(one.thread_id) == 1
    assert deployment.mcp.open_sessions() == [f"{other.thread_id}/who"]
    await deployment.mcp.close_all()


async def test_a_redirect_is_not_followed(deployment: SandboxDeployment, url: str) -> None:
    """The server is reached at the listed URL only: one that redirects elsewhere is an error, not a detour."""
    elsewhere = Starlette(routes=[Route("/mcp", lambda _: RedirectResponse(url, status_code=307), methods=["GET", "POST", "DELETE"])])
    with serve_app(elsewhere) as base:
        server = HttpServer(name="moved", url=f"{base}/mcp")
        with pytest.raises(McpUnavailableError, match=r"'moved'.*could not be started") as refused:
            await deployment.mcp.list_tools(_ref(), server)
        assert "307" in str(refused.value) or "Redirect" in str(refused.value), refused.value
    assert deployment.mcp.open_sessions() == []


def _growing_app() -> FastMCP:
    """A server whose `grow` tool adds a tool `extra` and says its tool list changed, as MCP servers may."""
    app = FastMCP("growing", stateless_http=False)

    def extra() -> str:
        """Added at run time."""
        return "extra"

    @app.tool()
    async def grow(ctx: Context) -> str:  # type: ignore[type-arg]
        """Add the tool `extra`."""
        app.add_tool(extra)
        await ctx.session.send_tool_list_changed()
        return "grown"

    return app


class _OneThreadCatalog(McpCatalog):
    """The catalog as a run sees it, for one fixed thread (no LangGraph run here)."""

    def __init__(self, deployment: SandboxDeployment, server: HttpServer, ref: ThreadRef) -> None:
        super().__init__((server,), deployment.mcp, "unused:image", 30.0)
        self.ref = ref

    def thread(self) -> ThreadRef:
        return self.ref


async def test_a_server_that_says_its_tools_changed_is_listed_again(deployment: SandboxDeployment) -> None:
    with http_server(_growing_app()) as url:
        catalog = _OneThreadCatalog(deployment, HttpServer(name="growing", url=url), _ref())
        first = await catalog.tools()
        assert [tool.name for tool in first] == ["growing__grow"]
        grow = await catalog.tool("growing__grow")
        assert grow is first[0], "every model call offers the tools made from the same listing"
        assert not isinstance(grow, str)
        [answer] = await grow.ainvoke({})
        assert answer["text"] == "grown"
        assert sorted(tool.name for tool in await catalog.tools()) == ["growing__extra", "growing__grow"]
        assert (await catalog.tool("growing__grow")) is not grow, "a changed listing makes its tools again"
        await deployment.mcp.close_all()


def _mixed_app() -> FastMCP:
    """A server whose tools answer with an image, fail, or (`hear`) answer with audio."""
    app = FastMCP("mixed", stateless_http=False)

    @app.tool(structured_output=False)
    def picture() -> list[TextContent | ImageContent]:
        """A caption and an image."""
        return [TextContent(type="text", text="a caption"), ImageContent(type="image", data="iVBORw0KGgo=", mimeType="image/png")]

    @app.tool()
    def broken() -> str:
        """Always fails."""
        raise ValueError("this tool always fails")

    @app.tool(structured_output=False)
    def hear() -> AudioContent:
        """Audio, which the adapters cannot convert by themselves."""
        return AudioContent(type="audio", data="AAAA", mimeType="audio/wav")

    return app


async def _called(tool: object, name: str) -> ToolMessage:
    assert isinstance(tool, BaseTool), tool
    message = await tool.ainvoke({"type": "tool_call", "name": name, "args": {}, "id": f"call-{uuid.uuid4().hex[:8]}"})
    assert isinstance(message, ToolMessage), message
    return message


async def test_every_answer_reaches_the_model_as_text_and_failures_as_tool_errors(deployment: SandboxDeployment) -> None:
    """Images and audio become a line of text (any model can read it); a failing tool or server is a failed call, never a failed run."""
    with http_server(_mixed_app()) as url:
        catalog = _OneThreadCatalog(deployment, HttpServer(name="mixed", url=url), _ref())
        picture = await _called(await catalog.tool("mixed__picture"), "mixed__picture")
        assert picture.status == "success"
        assert picture.text == "a caption\n[image, image/png, 12 base64 characters]"
        heard = await _called(await catalog.tool("mixed__hear"), "mixed__hear")
        assert heard.status == "success"
        assert "audio" in heard.text
        broken = await _called(await catalog.tool("mixed__broken"), "mixed__broken")
        assert broken.status == "error"
        assert "this tool always fails" in broken.text
        await deployment.mcp.close_all()
    # The server is gone now: the call is a failed tool call naming the server.
    gone = await _called(await catalog.tool("mixed__broken"), "mixed__broken")
    assert gone.status == "error"
    assert "'mixed'" in gone.text
    assert "did not run" in gone.text
