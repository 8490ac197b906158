"""Previews of what the agent starts, end to end: `start_process` (approved) puts an app up, its owner opens it by link.

The whole path, on each engine and sandbox mode: the scripted model asks for
`python3 -m http.server`, the owner approves through langgraph-sdk, the run ends,
and the process keeps serving; the owner's signed link reaches it through the
relay in the very container where it listens (in ephemeral mode each process has
a container of its own), while no one else gets a link and the sandbox keeps no
network. Stopping the process, deleting the thread and restarting the server
each do what they say. Traffic goes to 127.0.0.1 (the server) only; the sandbox's
network is read from its own `/proc` and `/sys`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import docker
import httpx
import pytest
from playwright.async_api import async_playwright

from server.preview_links import PreviewGrant, sign
from tests.support.agent_processes import agent_starts, agent_tool_call, run_in, thread_containers
from tests.support.browser_flows import chromium_path
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import AEGRA, LANGGRAPH_DEV
from tests.support.preview_apps import PROBE_APP
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SECRET = "agent-preview-links-secret-for-the-e2e-tests-0123"
TTL = 10
PER_THREAD, PER_USER = 2, 3
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups"


DEV_EPHEMERAL = pytest.param((LANGGRAPH_DEV, "ephemeral"), id="langgraph-dev-ephemeral")
DEV_SESSION = pytest.param((LANGGRAPH_DEV, "session"), id="langgraph-dev-session")
AEGRA_EPHEMERAL = pytest.param((AEGRA, "ephemeral"), id="aegra-ephemeral", marks=pytest.mark.aegra)
EVERY_SETUP = [DEV_EPHEMERAL, DEV_SESSION, AEGRA_EPHEMERAL]
"""Where a test's promise depends on both the engine (routes, restarts, deletes) and the sandbox mode."""
BOTH_MODES = [DEV_EPHEMERAL, DEV_SESSION]
"""Where it depends on the sandbox mode only (which containers run, where a relay starts)."""
BOTH_ENGINES = [DEV_EPHEMERAL, AEGRA_EPHEMERAL]
"""Where it depends on the engine only (how our routes and their headers are served)."""


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """An auth-enabled server (engine and sandbox mode from the test's parameter), with short links and small process caps.

    Module-scoped: tests with the same parameter share one server.
    """
    engine, mode = request.param
    with auth_server_with(
        engine,
        scripted_llm,
        tmp_path_factory,
        sandbox_image,
        SANDBOX_MODE=mode,
        PREVIEW_LINK_TTL=str(TTL),
        PREVIEW_SECRET=SECRET,
        SANDBOX_MAX_PROCESSES_PER_THREAD=str(PER_THREAD),
        SANDBOX_MAX_PROCESSES_PER_USER=str(PER_USER),
    ) as running:
        yield running


def _http(server: AuthServer, user: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.keys.token(user)}"} if user else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


def _user() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}"


async def _thread(server: AuthServer, user: str, files: dict[str, bytes]) -> str:
    """A new thread of `user` with `files` in its workspace."""
    async with _http(server, user) as http:
        thread_id = str((await http.post("/threads", json={})).raise_for_status().json()["thread_id"])
        for path, content in files.items():
            put = await http.put(f"/files/{thread_id}/content", params={"path": path}, content=content)
            assert put.status_code == 201, put.text
    return thread_id


async def _link(server: AuthServer, user: str | None, thread_id: str, port: int) -> httpx.Response:
    async with _http(server, user) as http:
        return await http.post(f"/preview/{thread_id}/{port}")


async def _url(server: AuthServer, user: str, thread_id: str, port: int) -> tuple[str, float]:
    made = await _link(server, user, thread_id, port)
    assert made.status_code == 201, made.text
    return str(made.json()["url"]), datetime.fromisoformat(made.json()["expires_at"]).timestamp()


async def _fetch(url: str) -> httpx.Response:
    """What a browser opening the link sends: no token, no cookie."""
    async with httpx.AsyncClient(timeout=60) as browser:
        return await browser.get(url)


async def _served(url: str, text: str) -> httpx.Response:
    """The answer once the app serves `text` (it may take a moment to bind its port after the tool answered)."""
    seen: list[str] = []
    for _ in range(25):
        answer = await _fetch(url)
        if answer.status_code == 200 and text in answer.text:
            return answer
        seen.append(f"{answer.status_code} {answer.text[:200]!r}")
        await asyncio.sleep(0.2)
    pytest.fail(f"{url} never served {text!r}; answers: {sorted(set(seen))}")


async def _processes(server: AuthServer, user: str, thread_id: str) -> dict[str, str]:
    async with _http(server, user) as http:
        listed = (await http.get(f"/processes/{thread_id}")).raise_for_status().json()["processes"]
    return {p["process_id"]: p["state"] for p in listed}


@pytest.mark.parametrize("server", EVERY_SETUP, indirect=True)
async def test_the_owner_previews_a_server_the_agent_started_and_no_one_else_can(
    server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    owner, other = _user(), _user()
    thread_id = await _thread(server, owner, {"/workspace/hello.txt": b"hello from the sandbox\n"})
    process_id = await agent_starts(server, scripted_llm, owner, thread_id, "python3 -m http.server 8000")
    # The tool call returned and the run is over; the process still runs.
    assert await _processes(server, owner, thread_id) == {process_id: "running"}

    url, expires = await _url(server, owner, thread_id, 8000)
    page = await _served(url + "hello.txt", "hello from the sandbox")
    assert page.headers["content-security-policy"] == SANDBOX_CSP
    assert page.headers["referrer-policy"] == "no-referrer"

    # Another user, and no user at all, get no link to this thread.
    assert (await _link(server, other, thread_id, 8000)).status_code in {403, 404}
    assert (await _link(server, None, thread_id, 8000)).status_code == 401
    # A request without a valid link is refused before it reaches the sandbox.
    token = httpx.URL(url).path.split("/")[3]
    base = f"{server.url}/preview/t"
    now = int(time.time())
    for forged in (
        "not-a-link",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        sign(b"a key that is not the server's key at all", PreviewGrant(owner, thread_id, 8000, now + 60)),
    ):
        refused = await _fetch(f"{base}/{forged}/hello.txt")
        assert refused.status_code in {401, 403}, (forged, refused.status_code, refused.text)
        assert "hello from the sandbox" not in refused.text
    assert (await _fetch(f"{base}/not-a-link/hello.txt")).status_code == 403
    expired = sign(SECRET.encode(), PreviewGrant(owner, thread_id, 8000, now - 1))
    assert (await _fetch(f"{base}/{expired}/hello.txt")).status_code == 401

    # The server's own link stops working once its PREVIEW_LINK_TTL is over.
    await asyncio.sleep(max(0.0, expires - time.time()) + 1.5)
    late = await _fetch(url + "hello.txt")
    assert late.status_code == 401, late.text
    assert "hello from the sandbox" not in late.text


@pytest.mark.parametrize("server", BOTH_MODES, indirect=True)
async def test_the_sandbox_where_the_app_listens_has_no_route_and_only_loopback(
    server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    owner = _user()
    thread_id = await _thread(server, owner, {"/workspace/index.html": b"up\n"})
    await agent_starts(server, scripted_llm, owner, thread_id, "python3 -m http.server 8000")
    url, _ = await _url(server, owner, thread_id, 8000)
    await _served(url, "up")
    containers = thread_containers(docker_api, thread_id)
    assert containers, "no container of the thread runs"
    for container in containers:
        routes = run_in(docker_api, container["Id"], ["cat", "/proc/net/route"]).strip().splitlines()
        assert len(routes) == 1, routes  # the header alone: no default route, no route at all
        assert routes[0].startswith("Iface"), routes
        assert run_in(docker_api, container["Id"], ["ls", "/sys/class/net"]).split() == ["lo"]
        ipv6 = run_in(docker_api, container["Id"], ["cat", "/proc/net/ipv6_route"]).strip().splitlines()
        assert all(line.split()[-1] == "lo" for line in ipv6), ipv6
        assert docker_api.inspect_container(container["Id"])["HostConfig"]["NetworkMode"] == "none"


@pytest.mark.parametrize("server", BOTH_ENGINES, indirect=True)
async def test_the_previewed_page_cannot_read_the_web_clients_storage(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    path = chromium_path()
    if path is None:
        pytest.fail("chromium not installed (apt-get install chromium)")
    owner = _user()
    thread_id = await _thread(server, owner, {"/workspace/probe.py": PROBE_APP.encode()})
    await agent_starts(server, scripted_llm, owner, thread_id, "python3 probe.py 8002")
    url, _ = await _url(server, owner, thread_id, 8002)
    await _served(url, "probing")
    token = server.keys.token(owner)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            context = await browser.new_context()
            await context.add_cookies([{"name": "client_cookie", "value": "client-secret", "url": server.url}])
            client = await context.new_page()
            await client.goto(f"{server.url}/app/")
            await client.evaluate("token => localStorage.setItem('deepagent.token', token)", token)
            preview = await context.new_page()
            await preview.goto(url)
            result = preview.locator("#result")
            await result.filter(has_not_text="probing").wait_for(timeout=60_000)
            found = json.loads(await result.text_content() or "{}")
        finally:
            await browser.close()
    assert found["localStorage"].startswith("refused: SecurityError"), found
    assert found["cookie"].startswith("refused: SecurityError"), found
    assert found["origin"] == "null", found
    assert not found["api"].startswith("read 200"), found
    assert token not in json.dumps(found)
    assert isinstance(found["appSaw"], dict), found
    assert "cookie" not in found["appSaw"], found
    assert "authorization" not in found["appSaw"], found


@pytest.mark.parametrize("server", BOTH_MODES, indirect=True)
async def test_two_apps_of_one_thread_are_each_previewed_and_stopping_one_ends_it(
    server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    owner = _user()
    thread_id = await _thread(server, owner, {"/workspace/a/page.txt": b"app a\n", "/workspace/b/page.txt": b"app b\n"})
    first = await agent_starts(server, scripted_llm, owner, thread_id, "cd a && python3 -m http.server 8000")
    second = await agent_starts(server, scripted_llm, owner, thread_id, "cd b && python3 -m http.server 8001")
    # The older app first: its relay must start where it listens, not in the thread's newest container.
    url_a, _ = await _url(server, owner, thread_id, 8000)
    url_b, _ = await _url(server, owner, thread_id, 8001)
    assert (await _served(url_a + "page.txt", "app a")).text == "app a\n"
    assert (await _served(url_b + "page.txt", "app b")).text == "app b\n"

    stopped = await agent_tool_call(server, scripted_llm, owner, thread_id, "stop_process", approved=False, process_id=first)
    assert stopped.startswith(f"{first}: ended"), stopped
    assert await _processes(server, owner, thread_id) == {first: "ended", second: "running"}
    gone = await _fetch(url_a + "page.txt")
    assert gone.status_code == 502, gone.text
    assert "app a" not in gone.text
    assert (await _fetch(url_b + "page.txt")).text == "app b\n"
    for container in thread_containers(docker_api, thread_id):
        listing = docker_api.top(container["Id"], ps_args="-eo pid,args")
        assert not [row for row in listing["Processes"] if "http.server 8000" in " ".join(row)], listing


@pytest.mark.parametrize("server", EVERY_SETUP, indirect=True)
async def test_the_process_caps_refuse_the_agent_and_name_their_setting(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    owner, other = _user(), _user()
    thread_id = await _thread(server, owner, {})
    for _ in range(PER_THREAD):
        await agent_starts(server, scripted_llm, owner, thread_id, "sleep 600")
    refused = await agent_tool_call(server, scripted_llm, owner, thread_id, "start_process", approved=True, command="sleep 601")
    assert refused.startswith("Error: the process did not start"), refused
    assert f"SANDBOX_MAX_PROCESSES_PER_THREAD={PER_THREAD}" in refused
    second_thread = await _thread(server, owner, {})
    for _ in range(PER_USER - PER_THREAD):
        await agent_starts(server, scripted_llm, owner, second_thread, "sleep 600")
    refused = await agent_tool_call(server, scripted_llm, owner, second_thread, "start_process", approved=True, command="sleep 601")
    assert f"SANDBOX_MAX_PROCESSES_PER_USER={PER_USER}" in refused, refused
    assert len(await _processes(server, owner, thread_id)) == PER_THREAD
    # Another user is not held back by this one's processes.
    await agent_starts(server, scripted_llm, other, await _thread(server, other, {}), "sleep 600")


@pytest.mark.parametrize("server", EVERY_SETUP, indirect=True)
async def test_deleting_the_thread_ends_every_process_and_its_previews(
    server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    owner = _user()
    thread_id = await _thread(server, owner, {"/workspace/index.html": b"doomed\n"})
    processes = [await agent_starts(server, scripted_llm, owner, thread_id, f"python3 -m http.server {port}") for port in (8000, 8001)]
    urls = [(await _url(server, owner, thread_id, port))[0] for port in (8000, 8001)]
    for url in urls:
        await _served(url, "doomed")
    async with _http(server, owner) as http:
        assert (await http.delete(f"/threads/{thread_id}")).status_code in {200, 204}
        for process_id in processes:
            assert (await http.get(f"/processes/{thread_id}/{process_id}/output")).status_code == 404
    assert thread_containers(docker_api, thread_id, all=True) == [], "a container outlived its thread"
    for url in urls:
        answer = await _fetch(url)
        assert answer.status_code in {404, 502}, answer.text
        assert "doomed" not in answer.text


@pytest.mark.parametrize("server", EVERY_SETUP, indirect=True)
async def test_after_a_server_restart_the_app_still_runs_and_its_preview_still_opens(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    owner = _user()
    thread_id = await _thread(server, owner, {"/workspace/index.html": b"still here\n"})
    process_id = await agent_starts(server, scripted_llm, owner, thread_id, "python3 -m http.server 8000")
    url, _ = await _url(server, owner, thread_id, 8000)
    await _served(url, "still here")
    await asyncio.to_thread(server.restart)
    assert await _processes(server, owner, thread_id) == {process_id: "running"}
    fresh, _ = await _url(server, owner, thread_id, 8000)
    await _served(fresh, "still here")
    stopped = await agent_tool_call(server, scripted_llm, owner, thread_id, "stop_process", approved=False, process_id=process_id)
    assert stopped.startswith(f"{process_id}: ended"), stopped
    assert (await _fetch(fresh)).status_code == 502
