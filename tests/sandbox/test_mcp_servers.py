"""MCP stdio servers in real sandboxes: they run inside the thread's container, keep one session, and end with the thread."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from config.mcp import StdioServer
from sandbox import SandboxDeployment, SandboxSettings, ThreadRef
from sandbox.containers.container_spec import LABEL_THREAD, label_filter, labels_for
from sandbox.containers.removal import list_containers, remove_thread_containers
from sandbox.disks.workspace import workspace_path
from sandbox.mcp.launch import McpUnavailableError
from sandbox.mcp.sessions import McpSessions
from server.lifecycle import ThreadSandboxes
from tests.support.mcp_servers import install_stdio_server

pytestmark = [pytest.mark.docker]


@pytest.fixture(params=["ephemeral", "session"])
def deployment(request: pytest.FixtureRequest, settings: SandboxSettings, docker_api: docker.APIClient) -> Iterator[SandboxDeployment]:
    deployment = SandboxDeployment(settings.with_overrides(mode=request.param))
    yield deployment
    deployment.close(remove_sessions=True)
    for container in docker_api.containers(all=True, filters=label_filter(labels_for(settings))):
        remove_thread_containers(docker_api, settings, container["Labels"][LABEL_THREAD])


def _probe(settings: SandboxSettings) -> StdioServer:
    return StdioServer(name="probe", command="python3", args=(install_stdio_server(settings.shared_dir),), env={"PROBE_SECRET": "s3cret"})


async def _text(sessions: McpSessions, ref: ThreadRef, server: StdioServer, tool: str, **arguments: object) -> str:
    result = await sessions.call_tool(ref, server, tool, dict(arguments), 60)
    assert not result.isError, result
    return "".join(getattr(item, "text", "") for item in result.content)


async def test_a_stdio_server_runs_in_the_threads_sandbox_keeps_its_session_and_ends_with_the_thread(
    deployment: SandboxDeployment, tmp_path: Path
) -> None:
    settings, sessions = deployment.settings, deployment.mcp
    server = _probe(settings)
    ref = ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image=settings.image)
    host_only = tmp_path / "host-only.txt"
    host_only.write_text("on the host only\n")

    assert {tool.name for tool in await sessions.list_tools(ref, server)} == {"whoami", "read_file", "echo", "crash", "sleep"}
    first = json.loads(await _text(sessions, ref, server, "whoami"))
    [container] = list_containers(deployment.api, settings, thread_id=ref.thread_id)
    # The container's view: its hostname, its mounts, the sandbox user, /workspace; never the host's.
    assert first["hostname"] == container.container_id[:12] != socket.gethostname()
    assert {"workspace", "shared", "memories"} <= set(first["root"])
    assert (first["uid"], first["cwd"], first["secret"]) == (settings.uid, "/workspace", "s3cret")
    assert await _text(sessions, ref, server, "read_file", path=str(host_only)) == "missing"
    assert await _text(sessions, ref, server, "read_file", path="/shared/reference.txt") == "shared reference\n"

    # One session for the thread: the same server process answers the next call.
    again = json.loads(await _text(sessions, ref, server, "whoami"))
    assert again["pid"] == first["pid"]
    assert sessions.open_sessions(ref.thread_id) == ["probe"]

    await ThreadSandboxes(deployment).remove(ref.thread_id)
    assert sessions.open_sessions(ref.thread_id) == []
    assert list_containers(deployment.api, settings, thread_id=ref.thread_id) == []


async def test_a_crash_is_an_error_for_that_call_and_the_next_call_starts_the_server_again(deployment: SandboxDeployment) -> None:
    settings, sessions = deployment.settings, deployment.mcp
    server = _probe(settings)
    ref = ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image=settings.image)
    before = json.loads(await _text(sessions, ref, server, "whoami"))
    with pytest.raises(McpUnavailableError, match="failed during the call"):
        await sessions.call_tool(ref, server, "crash", {}, 60)
    after = json.loads(await _text(sessions, ref, server, "whoami"))
    assert after["pid"] != before["pid"] or after["hostname"] != before["hostname"]
    await sessions.close_all()
    assert sessions.open_sessions() == []
    if settings.mode == "ephemeral":  # the server's own container goes with its session
        assert list_containers(deployment.api, settings, thread_id=ref.thread_id) == []


async def test_a_server_that_cannot_start_is_a_clear_error(deployment: SandboxDeployment) -> None:
    server = StdioServer(name="missing", command="/shared/mcp/no-such-server")
    ref = ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image=deployment.settings.image)
    with pytest.raises(McpUnavailableError, match="'missing'"):
        await deployment.mcp.list_tools(ref, server)
    assert deployment.mcp.open_sessions() == []


async def test_a_call_keeps_the_session_container_from_the_idle_stop(settings: SandboxSettings, docker_api: docker.APIClient) -> None:
    """While an MCP call runs in a session container, the idle reaper leaves it; once idle, a stop is followed by a fresh server."""
    deployment = SandboxDeployment(settings.with_overrides(mode="session"))
    try:
        sessions, server = deployment.mcp, _probe(settings)
        ref = ThreadRef(user_id="alice", thread_id=str(uuid.uuid4()), image=settings.image)
        before = json.loads(await _text(sessions, ref, server, "whoami"))
        marker = workspace_path(settings, ref.thread_id) / ".probe-sleeping"
        sleeping = asyncio.create_task(_text(sessions, ref, server, "sleep", seconds=4))
        async with asyncio.timeout(30):
            while not marker.exists():  # noqa: ASYNC110 - the server leaves a file, not an event
                await asyncio.sleep(0.05)
        far_future = time.time() + 10 * settings.idle_ttl_seconds
        assert await asyncio.to_thread(deployment.reap_idle, now=far_future) == [], "the idle reaper stopped a container under an MCP call"
        assert await sleeping == "slept"

        # Unused now: the reaper stops it, and the thread's next call starts the container and the server again.
        [container] = list_containers(deployment.api, settings, thread_id=ref.thread_id)
        started_before = docker_api.inspect_container(container.container_id)["State"]["StartedAt"]
        assert await asyncio.to_thread(deployment.reap_idle, now=far_future) == [ref.thread_id]
        after = json.loads(await _text(sessions, ref, server, "whoami"))
        assert after["hostname"] == before["hostname"]  # the thread's same container, started again
        assert docker_api.inspect_container(container.container_id)["State"]["StartedAt"] != started_before
    finally:
        await deployment.mcp.close_all()
        deployment.close(remove_sessions=True)
        for container in docker_api.containers(all=True, filters=label_filter(labels_for(settings))):
            remove_thread_containers(docker_api, settings, container["Labels"][LABEL_THREAD])
