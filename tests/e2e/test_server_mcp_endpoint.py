"""`langgraph dev`'s own MCP endpoint (`/mcp`: each assistant the caller may see, as an MCP tool), under auth.

Driven with the official `mcp` SDK's streamable-HTTP client, as an MCP host would. The
endpoint is one of the server's protected routes, so our auth decides who gets in and which
assistants each caller sees; Aegra serves no MCP endpoint (docs/mcp.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@asynccontextmanager
async def _session(server: AuthServer, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_without_a_valid_token_the_endpoint_answers_401(auth_server: AuthServer) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "0"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {auth_server.keys.token('a')}x"}):
            answer = await http.post("/mcp", json=initialize, headers={**accept, **headers})
            assert answer.status_code == 401, (headers, answer.status_code, answer.text[:300])


async def test_each_user_lists_and_calls_only_the_assistants_they_may_see(auth_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, intruder = f"mcp-owner-{tag}", f"mcp-intruder-{tag}"
    private = f"private-{tag}"
    scripted_llm.add_scenario(f"e2e-mcp-endpoint-{tag}", say(f"answered-{tag}"))
    async with auth_server.client(owner) as client:
        await client.assistants.create("agent", name=private, config={"tags": [private]})

    async with _session(auth_server, auth_server.keys.token(owner)) as session:
        assert {"agent", private} <= {tool.name for tool in (await session.list_tools()).tools}
        result = await session.call_tool(private, {"messages": [{"role": "user", "content": f"hello (e2e-mcp-endpoint-{tag})"}]})
        assert not result.isError, result
        assert f"answered-{tag}" in "".join(getattr(item, "text", "") for item in result.content)

    async with _session(auth_server, auth_server.keys.token(intruder)) as session:
        assert private not in {tool.name for tool in (await session.list_tools()).tools}
        with pytest.raises(McpError, match="Unknown tool"):
            await session.call_tool(private, {"messages": [{"role": "user", "content": "hello"}]})
