"""Where an MCP server of a thread runs, and the transport that reaches it.

- **stdio** (`command` servers): inside the thread's sandbox, never on the host. The
  host runs only the Docker CLI, `docker exec -i <container> <command> <args>`, whose
  stdin and stdout are the MCP SDK's stdio transport. The MCP SDK's transport needs a
  process to talk to, and the CLI is that process; the container is found or made
  with the Docker API like every other sandbox container. Session mode: the thread's
  session container. Ephemeral mode: a container of the server's own, built like a
  command's (`container_kwargs`: same mounts, limits, user, no network), labelled with
  the thread so thread removal finds it, removed when the session closes.
- **streamable HTTP** (`url` servers): the URL the administrator listed, with their
  headers; redirects are not followed and proxy variables are ignored, so the
  server is reached at that address and nowhere else.

The server's `env` reaches the exec by name only (`-e NAME`, the value in the CLI's
own environment), so its values never show in the host's process list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, TextIO, cast

import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from docker.errors import APIError, NotFound
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from config.mcp import HttpServer, McpServer, StdioServer
from sandbox.containers.container_spec import WORKSPACE_MOUNT, sandbox_environment
from sandbox.containers.ephemeral import start_own_container
from sandbox.disks.workspace import ThreadRef, prepare_workspace
from sandbox.runs.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.containers.deployment import SandboxDeployment

MCP_MODE_LABEL = "mcp"
"""`LABEL_MODE` of an ephemeral-mode MCP server's own container: not a command's (those are swept once
their command could no longer run), not a session (counted by the session caps)."""
HTTP_TIMEOUT_SECONDS = 30.0
"""Longest an HTTP server may take to accept a request; a reply may stream for up to `HTTP_READ_SECONDS`."""
HTTP_READ_SECONDS = 300.0

type Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
type Transport = Callable[[], AbstractAsyncContextManager[Streams]]
"""Opens the byte-level connection to one server; entered and left in the same task (anyio's rule)."""


class McpUnavailableError(SandboxError):
    """An MCP server that could not be started or reached, or that ended: the agent reads the message."""


def docker_cli() -> str:
    """The Docker CLI the stdio transport runs (it execs into the container); an error naming what is missing."""
    found = shutil.which("docker")
    if found is None:
        msg = "MCP command servers need the docker CLI on the server's PATH (it runs `docker exec` into the sandbox)"
        raise McpUnavailableError(msg)
    return found


def exec_argv(deployment: SandboxDeployment, container_id: str, server: StdioServer) -> list[str]:
    """`docker exec` arguments that start `server` in `container_id` as the sandbox user, in /workspace."""
    settings = deployment.settings
    argv = ["exec", "-i", "-u", f"{settings.uid}:{settings.gid}", "-w", WORKSPACE_MOUNT]
    for name, value in sandbox_environment().items():
        argv += ["-e", f"{name}={value}"]
    for name in server.env:
        argv += ["-e", name]  # the value travels in the CLI's environment, not its argv
    return [*argv, container_id, server.command, *server.args]


def cli_environment(server: StdioServer) -> dict[str, str]:
    """The CLI's environment: how to reach Docker (as the server's own client does), and the server's `env`."""
    reach = {name: value for name, value in os.environ.items() if name.startswith("DOCKER_")}
    return {**reach, **server.env}


def container_for(deployment: SandboxDeployment, ref: ThreadRef, server: StdioServer) -> tuple[str, bool]:
    """The container `server` runs in for `ref`'s thread, and whether it is the server's own (blocking)."""
    deployment.ensure_image(ref.image)
    prepare_workspace(deployment.settings, ref.thread_id, create=True, user_id=ref.user_id)
    if deployment.settings.mode == "session":
        with deployment.session_container(ref) as container_id:
            return container_id, False
    api = deployment.start()
    return start_own_container(deployment.settings, api, ref, suffix=f"mcp-{server.name}", mode_label=MCP_MODE_LABEL), True


def stdio_transport(deployment: SandboxDeployment, cli: str, container_id: str, server: StdioServer) -> Transport:
    """The MCP SDK's stdio transport over `docker exec -i` (`cli`: `docker_cli()`) into the container; its stderr is dropped."""
    params = StdioServerParameters(command=cli, args=exec_argv(deployment, container_id, server), env=cli_environment(server))

    @asynccontextmanager
    async def connect() -> AsyncIterator[Streams]:
        # The SDK hands `errlog` to `anyio.open_process` as stderr, which takes a file descriptor too.
        async with stdio_client(params, errlog=cast("TextIO", subprocess.DEVNULL)) as streams:
            yield streams

    return connect


def http_transport(server: HttpServer) -> Transport:
    """Streamable HTTP to the listed URL only: no redirects, no proxies from the environment."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[Streams]:
        timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS, read=HTTP_READ_SECONDS)
        async with (
            httpx.AsyncClient(headers=dict(server.headers), timeout=timeout, follow_redirects=False, trust_env=False) as client,
            streamable_http_client(server.url, http_client=client) as (read, write, _),
        ):
            yield read, write

    return connect


def remove_own_container(deployment: SandboxDeployment, container_id: str) -> None:
    """Remove an ephemeral-mode server's container (blocking); one already gone is fine."""
    try:
        deployment.api.remove_container(container_id, force=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:  # 409: another process is removing it already
            raise


def describe(server: McpServer) -> str:
    """How a log line or an error names where the server runs."""
    if isinstance(server, HttpServer):
        return f"MCP server {server.name!r} at {server.url}"
    return f"MCP server {server.name!r} ({server.command}) in the thread's sandbox"
