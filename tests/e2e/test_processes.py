"""Background processes end to end: the agent starts a dev server (approved), and it outlives the tool call.

Driven through langgraph-sdk and plain HTTP against the real auth server (two users)
with the scripted LLM; the process runs in a real Docker sandbox.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import docker
import httpx
import pytest

from sandbox.containers.container_spec import label_filter
from tests.support.agent_client import approve, content_text, resume, sdk_client, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SERVER = "python3 -m http.server 8000"


def _http(server: AuthServer, user_id: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {server.keys.token(user_id)}"}, timeout=60)


async def _wait_for_output(http: httpx.AsyncClient, thread_id: str, process_id: str, text: str) -> str:
    seen = ""
    for _ in range(100):
        answer = await http.get(f"/processes/{thread_id}/{process_id}/output", params={"since": 0})
        assert answer.status_code == 200, answer.text
        seen = answer.json()["output"]
        if text in seen:
            return seen
        await asyncio.sleep(0.2)
    pytest.fail(f"{text!r} never appeared in the process output: {seen!r}")


async def _started_server(auth_server: AuthServer, scripted_llm: ScriptedLLM, user: str) -> tuple[str, str]:
    """A thread of `user` whose agent started the dev server, approved: (thread id, process id)."""
    trigger = f"e2e-process-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("start_process", command=SERVER), say("started"))
    async with sdk_client(auth_server.url, token=auth_server.keys.token(user)) as client:
        thread_id = str((await client.threads.create())["thread_id"])
        first = await stream_run(client, thread_id, input=user_input(f"serve the workspace ({trigger})"))
        assert not first.errors, first.describe()
        [action] = first.action_requests
        assert action["name"] == "start_process"
        assert SERVER in action["description"], action
        assert action["details"]["command"] == SERVER, action
        async with _http(auth_server, user) as http:
            assert (await http.get(f"/processes/{thread_id}")).json() == {"processes": []}, "it ran before approval"

        second = await stream_run(client, thread_id, command=resume(approve()), stream_mode=("updates", "custom"))
        assert not second.errors, second.describe()
        # While the run streams, the new process's first output reaches the client live, like `execute` output.
        live = [data for event, data in second.events if event.startswith("custom") and isinstance(data, dict)]
        assert any("Serving HTTP" in str(data.get("chunk", "")) for data in live), second.events
        [result] = tool_messages(await thread_state(client, thread_id), "start_process")
    text = content_text(result)
    assert "Started background process" in text, text
    process_id = text.split("Started background process ", 1)[1].split()[0]
    return thread_id, process_id


async def test_an_approved_dev_server_outlives_its_tool_call_and_only_its_owner_sees_it(
    auth_server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    thread_id, process_id = await _started_server(auth_server, scripted_llm, "user-a")
    async with _http(auth_server, "user-a") as alice, _http(auth_server, "user-b") as bob:
        # The tool call has returned and the run is over: the process still runs, and its output is served.
        listed = (await alice.get(f"/processes/{thread_id}")).json()["processes"]
        assert [(p["process_id"], p["state"], p["command"]) for p in listed] == [(process_id, "running", SERVER)]
        # The server answers inside the sandbox (no network reaches it from outside).
        alice_files = await alice.put(f"/files/{thread_id}/content", params={"path": "/workspace/hello.txt"}, content=b"hi")
        assert alice_files.status_code == 201
        probe = "python3 -c \"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8000/hello.txt').read())\""
        containers = docker_api.containers(filters=label_filter({"io.github.deepagents-docker-sandbox.thread": thread_id}))
        [container] = [c for c in containers if c["Labels"].get("io.github.deepagents-docker-sandbox.mode") == "process"]
        exec_id = docker_api.exec_create(container["Id"], ["sh", "-c", probe])["Id"]
        assert b"b'hi'" in docker_api.exec_start(exec_id)
        output = await _wait_for_output(alice, thread_id, process_id, "GET /hello.txt")
        assert "Serving HTTP" in output

        # Another user: the thread and its process do not exist for them.
        for method, path in (
            ("GET", f"/processes/{thread_id}"),
            ("GET", f"/processes/{thread_id}/{process_id}/output"),
            ("POST", f"/processes/{thread_id}/{process_id}/stop"),
        ):
            refused = await bob.request(method, path)
            assert refused.status_code == 404, (method, path, refused.text)
        assert (await alice.get(f"/processes/{thread_id}")).json()["processes"][0]["state"] == "running"

        # The live stream (SSE) delivers what is there, then the end once stopped.
        async with alice.stream(
            "GET", f"/processes/{thread_id}/{process_id}/output", params={"since": 0}, headers={"Accept": "text/event-stream"}
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            first_data = await anext(line async for line in lines if line.startswith("data: "))
            assert "Serving HTTP" in json.loads(first_data[len("data: ") :])["output"]
            stopped = await alice.post(f"/processes/{thread_id}/{process_id}/stop")
            assert stopped.status_code == 200, stopped.text
            assert stopped.json()["state"] == "ended"
            events = [line async for line in lines if line.startswith("event: ")]
            assert events[-1] == "event: end", events
        assert not [c for c in docker_api.containers(filters={"id": [container["Id"]]})], "the process's container still runs"


async def test_deleting_the_thread_ends_every_process(
    auth_server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient
) -> None:
    thread_id, process_id = await _started_server(auth_server, scripted_llm, "user-a")
    async with _http(auth_server, "user-a") as alice:
        assert (await alice.get(f"/processes/{thread_id}")).json()["processes"][0]["state"] == "running"
        deleted = await alice.delete(f"/threads/{thread_id}")
        assert deleted.status_code in (200, 204), deleted.text
        thread_label = {"io.github.deepagents-docker-sandbox.thread": thread_id}
        assert docker_api.containers(all=True, filters=label_filter(thread_label)) == [], "a process container outlived its thread"
        gone = await alice.get(f"/processes/{thread_id}/{process_id}/output")
        assert gone.status_code == 404, gone.text


async def test_bad_offsets_and_unknown_processes_get_clear_refusals(auth_server: AuthServer) -> None:
    async with _http(auth_server, "user-a") as alice:
        thread_id = str((await alice.post("/threads", json={})).json()["thread_id"])
        for since in ("-1", "x", "1e3", "9" * 30):
            answer = await alice.get(f"/processes/{thread_id}/p000000000000/output", params={"since": since})
            assert answer.status_code == 400, (since, answer.text)
        for process_id in ("p000000000000", "p0000000000zz", "nope"):
            answer = await alice.get(f"/processes/{thread_id}/{process_id}/output")
            assert answer.status_code == 404, (process_id, answer.text)
            assert (await alice.post(f"/processes/{thread_id}/{process_id}/stop")).status_code == 404
