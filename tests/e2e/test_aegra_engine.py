"""The server features behave on Aegra (PostgreSQL) as on `langgraph dev`, where the two servers differ.

Aegra with two processes (Redis), authentication on (HS256 and a JWKS file), ephemeral sandboxes and
a fast reconciler. What is checked here is what `server/` does differently per
server (`server/engine.py`, the create_run value's shape, FastAPI mounting):
the resume refusal before a run is stored, the approval audit, thread-delete
removal, the reconciler's "does this thread exist", the workspace file routes
with ownership, live `execute` output on the `custom` stream mode, and the
web client's stream and join calls.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from agent.live_output import EXECUTE_OUTPUT_EVENT
from tests.support.aegra_server import run_aegra
from tests.support.agent_client import (
    approve,
    pending_interrupt_values,
    resume,
    sdk_client,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.auth_keys import AuthKeys
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

GRACE = 3
"""SANDBOX_ORPHAN_GRACE of this server (seconds)."""
RECONCILE_EVERY = 1
"""SANDBOX_RECONCILE_INTERVAL of this server (seconds)."""
PATIENCE = 90.0
"""Seconds a test waits for the reconciler on a loaded machine."""


@dataclass
class AegraAuthServer:
    """Aegra serving the project with bearer tokens required."""

    server: LangGraphServer
    keys: AuthKeys
    paths: E2EPaths

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.server.url

    def client(self, user_id: str) -> Any:
        """An SDK client acting as `user_id`."""
        return sdk_client(self.url, token=self.keys.token(user_id))

    def headers(self, user_id: str) -> dict[str, str]:
        """Plain-HTTP headers acting as `user_id`."""
        return {"Authorization": f"Bearer {self.keys.token(user_id)}"}


@pytest.fixture(scope="module")
def aegra(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AegraAuthServer]:
    """Aegra as `deploy/aegra/serve.sh` runs it (two processes, Redis) with auth, ephemeral sandboxes and a fast reconciler."""
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e-aegra"))
    keys = AuthKeys(jwks_file=paths.server_home / "jwks.json")
    env = server_env(
        scripted_llm,
        paths,
        sandbox_image,
        **keys.env(),
        SANDBOX_ORPHAN_GRACE=str(GRACE),
        SANDBOX_RECONCILE_INTERVAL=str(RECONCILE_EVERY),
    )
    with run_aegra(workdir=paths.server_home, env=env) as server:
        yield AegraAuthServer(server=server, keys=keys, paths=paths)


@pytest.fixture
async def alice(aegra: AegraAuthServer) -> AsyncIterator[LangGraphClient]:
    async with aegra.client("alice") as client:
        yield client


@pytest.fixture
async def bob(aegra: AegraAuthServer) -> AsyncIterator[LangGraphClient]:
    async with aegra.client("bob") as client:
        yield client


def _trigger(name: str) -> str:
    return f"e2e-aegra-{name}-{uuid.uuid4().hex[:8]}"


async def _paused_at_execute(client: LangGraphClient, llm: ScriptedLLM, command: str) -> str:
    """A new thread paused on an `execute` approval for `command`, then answered with the tool's output."""
    trigger = _trigger("exec")
    llm.add_scenario(trigger, call("execute", command=command), say(echo_last_tool_output()))
    thread_id = (await client.threads.create())["thread_id"]
    paused = await stream_run(client, thread_id, input=user_input(f"run it ({trigger})"))
    assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
    return str(thread_id)


async def _status(action: Awaitable[Any]) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await action
    return caught.value.response.status_code, caught.value.response.text


async def _eventually(check: Any, what: str, patience: float = PATIENCE) -> None:
    deadline = time.monotonic() + patience
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {patience:.0f}s waiting for: {what}")
        await asyncio.sleep(0.5)


async def test_readiness_and_our_routes_are_served_next_to_aegras(aegra: AegraAuthServer) -> None:
    async with httpx.AsyncClient(base_url=aegra.url, timeout=30) as http:
        assert (await http.get("/info")).status_code == 200
        page = await http.get("/app/")
        assert page.status_code == 200
        assert "Content-Security-Policy" in page.headers
        # Aegra's API stays behind authentication; our file routes too.
        assert (await http.get("/threads/search")).status_code in (401, 405)
        assert (await http.post("/threads/search", json={})).status_code == 401
        assert (await http.get(f"/files/{uuid.uuid4()}/list")).status_code == 401


async def test_a_malformed_resume_is_refused_before_a_run_is_stored(
    aegra: AegraAuthServer, alice: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id = await _paused_at_execute(alice, scripted_llm, "touch /workspace/ran && echo ran")
    runs_before = [r["run_id"] for r in await alice.runs.list(thread_id)]
    state_before = await thread_state(alice, thread_id)

    bad = {"decisions": [{"type": "maybe"}]}
    for create in (alice.runs.create, alice.runs.wait):
        status, detail = await _status(create(thread_id, "agent", command={"resume": bad}))
        assert status == 422, (status, detail)
        assert "unknown decision type 'maybe'" in detail
    status, detail = await _status(stream_run(alice, thread_id, command={"resume": {"decisions": []}}))
    assert status == 422, (status, detail)
    # The v2 command Aegra serves goes through the same check.
    async with httpx.AsyncClient(base_url=aegra.url, headers=aegra.headers("alice"), timeout=60) as http:
        command = {"id": 1, "method": "input.respond", "params": {"response": {"decisions": [{"type": "respond"}]}}}
        answer = await http.post(f"/threads/{thread_id}/commands", json=command)
        assert answer.status_code == 422, answer.text
        assert "a respond decision needs a message" in answer.text

    # Nothing ran and nothing was stored, so the approval is still answerable, by graph name.
    assert [r["run_id"] for r in await alice.runs.list(thread_id)] == runs_before
    state_after = await thread_state(alice, thread_id)
    assert pending_interrupt_values(state_after) == pending_interrupt_values(state_before)
    assert not (aegra.paths.workspace(thread_id) / "ran").exists()
    done = await stream_run(alice, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    assert (aegra.paths.workspace(thread_id) / "ran").exists()
    assert "ran" in tool_messages(await thread_state(alice, thread_id), "execute")[-1]["content"]


async def test_decisions_and_commands_are_audited_as_the_signed_in_user(
    aegra: AegraAuthServer, alice: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    """Aegra puts only the user object in a run's config; the sandbox still knows the run is alice's."""
    thread_id = await _paused_at_execute(alice, scripted_llm, "echo audited")
    done = await stream_run(alice, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    log = aegra.paths.server_home / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    mine = [(r["event"], r["user"], r.get("tool"), r.get("decision")) for r in records if r.get("thread") == thread_id]
    assert mine == [("approval", "alice", "execute", "approve"), ("command", "alice", None, None)], mine


async def test_a_client_cannot_name_the_runs_user(aegra: AegraAuthServer, alice: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    """Aegra passes a client's config through to the run; the auth module refuses identity keys in it."""
    thread_id = (await alice.threads.create())["thread_id"]
    trigger = _trigger("forged-user")
    scripted_llm.add_scenario(trigger, say("hi"))
    for config, context in (
        ({"configurable": {"langgraph_auth_user_id": "bob"}}, None),
        ({"configurable": {"langgraph_auth_user": {"identity": "bob"}}}, None),
        (None, {"langgraph_auth_user_id": "bob"}),
    ):
        status, detail = await _status(alice.runs.create(thread_id, "agent", input=user_input(trigger), config=config, context=context))
        assert status == 422, (config, context, status, detail)
        assert "must not name another user" in detail
    status, detail = await _status(alice.assistants.create("agent", config={"configurable": {"langgraph_auth_user_id": "bob"}}))
    assert status == 422, (status, detail)
    assert await alice.runs.list(thread_id) == []


async def test_another_users_thread_is_not_found(
    aegra: AegraAuthServer, alice: LangGraphClient, bob: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id = await _paused_at_execute(alice, scripted_llm, "touch /workspace/bob-ran")
    for what, action in {
        "get": bob.threads.get(thread_id),
        "state": bob.threads.get_state(thread_id),
        "resume": bob.runs.create(thread_id, "agent", command={"resume": {"decisions": [{"type": "approve"}]}}),
        "malformed resume": bob.runs.create(thread_id, "agent", command={"resume": {"decisions": "garbage"}}),
        "delete": bob.threads.delete(thread_id),
    }.items():
        status, detail = await _status(action)
        assert status == 404, (what, status, detail)
    assert thread_id not in {t["thread_id"] for t in await bob.threads.search(limit=100)}
    # Aegra lists another user's thread's runs as none at all (langgraph dev answers 404).
    assert await bob.runs.list(thread_id) == []
    assert pending_interrupt_values(await thread_state(alice, thread_id)), "bob's attempts changed alice's thread"
    assert not (aegra.paths.workspace(thread_id) / "bob-ran").exists()


async def test_workspace_file_routes_follow_thread_ownership(aegra: AegraAuthServer, alice: LangGraphClient) -> None:
    thread_id = (await alice.threads.create())["thread_id"]
    files = f"/files/{thread_id}"
    async with httpx.AsyncClient(base_url=aegra.url, timeout=60) as http:
        as_alice, as_bob = aegra.headers("alice"), aegra.headers("bob")
        put = await http.put(f"{files}/content", params={"path": "/workspace/notes.txt"}, content=b"hi", headers=as_alice)
        assert put.status_code == 201, put.text
        listing = await http.get(f"{files}/list", params={"path": "/workspace"}, headers=as_alice)
        assert [e["name"] for e in listing.json()["entries"]] == ["notes.txt"]
        got = await http.get(f"{files}/content", params={"path": "/workspace/notes.txt"}, headers=as_alice)
        assert got.content == b"hi"
        for method, op in (("GET", "list"), ("GET", "content"), ("PUT", "content")):
            refused = await http.request(method, f"{files}/{op}", params={"path": "/workspace/notes.txt"}, headers=as_bob, content=b"x")
            assert refused.status_code == 404, (method, op, refused.text)
            anonymous = await http.request(method, f"{files}/{op}", params={"path": "/workspace/notes.txt"}, content=b"x")
            assert anonymous.status_code == 401, (method, op, anonymous.text)
    assert (aegra.paths.workspace(thread_id) / "notes.txt").read_bytes() == b"hi"


async def test_deleting_a_thread_removes_its_workspace_only_for_its_owner(
    aegra: AegraAuthServer, alice: LangGraphClient, bob: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    thread_id = await _paused_at_execute(alice, scripted_llm, "echo kept > /workspace/kept.txt")
    done = await stream_run(alice, thread_id, command=resume(approve()))
    assert not done.errors, done.describe()
    workspace = aegra.paths.workspace(thread_id)
    assert (workspace / "kept.txt").read_text() == "kept\n"
    status, _ = await _status(bob.threads.delete(thread_id))
    assert status == 404
    assert (workspace / "kept.txt").exists()
    await alice.threads.delete(thread_id)
    assert not workspace.exists(), "the workspace outlived its thread"


async def test_the_reconciler_asks_aegra_which_threads_exist(aegra: AegraAuthServer, alice: LangGraphClient) -> None:
    live = (await alice.threads.create())["thread_id"]
    (aegra.paths.workspace(live)).mkdir(parents=True, exist_ok=True)
    (aegra.paths.workspace(live) / "live.txt").write_text("kept\n")
    orphan = str(uuid.uuid4())
    aegra.paths.workspace(orphan).mkdir(parents=True)
    (aegra.paths.workspace(orphan) / "left.txt").write_text("left behind\n")

    await _eventually(lambda: not aegra.paths.workspace(orphan).exists(), "orphan workspace removed")
    await asyncio.sleep(GRACE + 3 * RECONCILE_EVERY)
    assert (aegra.paths.workspace(live) / "live.txt").read_text() == "kept\n", "the reconciler removed a live thread's workspace"


async def test_live_output_arrives_on_the_custom_stream_mode(alice: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    thread_id = await _paused_at_execute(alice, scripted_llm, "for i in 1 2 3; do echo line $i; sleep 1; done")
    done = await stream_run(alice, thread_id, command=resume(approve()), stream_mode=["custom", "updates"])
    assert not done.errors, done.describe()
    chunks = [data for event, data in done.events if event == "custom" and isinstance(data, dict)]
    assert chunks, done.describe()
    assert {c["type"] for c in chunks} == {EXECUTE_OUTPUT_EVENT}
    assert "line 1" in "".join(c["chunk"] for c in chunks)


async def _sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].strip())
    return events


async def test_the_web_clients_stream_and_join_calls(aegra: AegraAuthServer, alice: LangGraphClient, scripted_llm: ScriptedLLM) -> None:
    """What `ui/src/api.js` sends: runs/stream with its three modes, then a join of the same run."""
    thread_id = await _paused_at_execute(alice, scripted_llm, "for i in 1 2 3 4; do echo tick $i; sleep 1; done")
    body = {
        "assistant_id": "agent",
        "stream_mode": ["messages-tuple", "updates", "custom"],
        "stream_resumable": True,
        "on_disconnect": "continue",
        "command": resume(approve()),
    }
    headers = {**aegra.headers("alice"), "Accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=aegra.url, headers=headers, timeout=httpx.Timeout(120, connect=30)) as http:
        async with http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as started:
            assert started.status_code == 200
            run_path = started.headers["Content-Location"]
            first = await _sse_events(started)
        run_id = run_path.rstrip("/").rsplit("/", 1)[-1]
        async with http.stream("GET", f"/threads/{thread_id}/runs/{run_id}/stream") as joined:
            assert joined.status_code == 200
            rejoined = await _sse_events(joined)
    names = {name for name, _ in first}
    assert {"custom", "updates"} <= names, names
    assert any(name.startswith("messages") for name in names), names
    assert "tick 1" in "".join(d["chunk"] for n, d in first if n == "custom")
    # The run is over: the join ends at once (Aegra sends `end`; langgraph dev may replay what it kept).
    assert rejoined is not None


async def test_an_assistant_posing_as_the_servers_own_stays_private(alice: LangGraphClient, bob: LangGraphClient) -> None:
    """Aegra merges a handler's metadata over the request's: the forged marker is replaced, not dropped."""
    forged = {"created_by": "system", "owner": "bob"}
    try:
        mine = await alice.assistants.create("agent", name="alice's", metadata=forged, context={"marker": uuid.uuid4().hex})
    except httpx.HTTPStatusError as exc:
        pytest.fail(exc.response.text)
    assert mine["metadata"]["owner"] == "alice"
    assert mine["metadata"].get("created_by") != "system"
    assert mine["assistant_id"] not in {a["assistant_id"] for a in await bob.assistants.search(limit=100)}
    status, _ = await _status(bob.assistants.get(mine["assistant_id"]))
    assert status == 404
