"""The admin view's routes: admins see every live sandbox, disk use and the audit, and stop a sandbox; nobody else does.

On each engine's contract server (`AUTH_ADMIN_USERS` names `ADMIN_USER`); the
live sandbox is a real container running an agent's approved `sleep`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.agent_client import approve, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.auth_keys import ADMIN_USER
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

ADMIN_ONLY = (
    ("GET", "/admin/sandboxes"),
    ("GET", "/admin/disk"),
    ("GET", "/admin/audit"),
    ("POST", "/admin/sandboxes/0123456789ab/stop"),
)
OWNER = "admin-view-user"


def _http(server: AuthServer, user_id: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.keys.token(user_id)}"} if user_id else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


async def test_only_admins_reach_the_admin_routes(engine_server: AuthServer) -> None:
    auth_server = engine_server
    async with _http(auth_server, None) as nobody, _http(auth_server, OWNER) as user, _http(auth_server, ADMIN_USER) as admin:
        for method, path in (*ADMIN_ONLY, ("GET", "/admin/me")):
            answer = await nobody.request(method, path)
            assert answer.status_code == 401, (path, answer.text)
        forged = await nobody.get("/admin/sandboxes", headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401, forged.text
        for method, path in ADMIN_ONLY:
            answer = await user.request(method, path)
            assert answer.status_code == 403, (path, answer.text)
            assert "AUTH_ADMIN_USERS" in answer.json()["detail"]
        assert (await user.get("/admin/me")).json() == {"user": OWNER, "admin": False}
        assert (await admin.get("/admin/me")).json() == {"user": ADMIN_USER, "admin": True}
        for query in ({"limit": "0"}, {"limit": "abc"}, {"limit": "1001"}, {"kind": "nonsense"}, {"user": "u" * 300}):
            answer = await admin.get("/admin/audit", params=query)
            assert answer.status_code == 400, (query, answer.text)
        assert (await admin.post("/admin/sandboxes/not-an-id/stop")).status_code == 400
        assert (await admin.post("/admin/sandboxes/0123456789ab/stop")).status_code == 404


WAIT_SECONDS = 60.0


async def _wait_for_sandbox(admin: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = await admin.get("/admin/sandboxes")
        assert answer.status_code == 200, answer.text
        mine = [box for box in answer.json()["sandboxes"] if box["thread_id"] == thread_id]
        if mine:
            return mine[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no live sandbox of thread {thread_id} within {WAIT_SECONDS}s")


async def test_an_admin_sees_a_live_sandbox_with_its_numbers_and_stops_it(engine_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    auth_server = engine_server
    marker = f"admin-stop-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(marker, call("execute", command="sleep 300"), say("done"))
    async with auth_server.client(OWNER) as client, _http(auth_server, ADMIN_USER) as admin:
        thread_id = (await client.threads.create())["thread_id"]
        paused = await stream_run(client, thread_id, input=user_input(f"sleep ({marker})"))
        assert [a["name"] for a in paused.action_requests] == ["execute"], paused.describe()
        started = time.monotonic()
        running = asyncio.create_task(stream_run(client, thread_id, command=resume(approve())))

        box = await _wait_for_sandbox(admin, thread_id)
        assert box["user_id"] == OWNER
        assert box["mode"] == "ephemeral"
        assert 0 <= box["age_seconds"] < 120
        assert isinstance(box["cpu_percent"], float)
        assert box["memory_bytes"] > 0
        assert box["memory_limit_bytes"] > box["memory_bytes"]

        stopped = await admin.post(f"/admin/sandboxes/{box['container_id']}/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["stopped"] == {"container_id": box["container_id"], "thread_id": thread_id, "user_id": OWNER}
        done = await asyncio.wait_for(running, 60)
        assert time.monotonic() - started < 120, "the command ran on instead of stopping"
        assert not done.errors, done.describe()
        result = tool_messages(await thread_state(client, thread_id), "execute")[-1]["content"]
        assert "exit code" in str(result).lower(), result

        listed = (await admin.get("/admin/sandboxes")).json()["sandboxes"]
        assert thread_id not in {b["thread_id"] for b in listed}

        audit = (await admin.get("/admin/audit", params={"limit": "20"})).json()["records"]
        stops = [r for r in audit if r["event"] == "admin" and r["thread"] == thread_id]
        assert stops, audit
        assert stops[0]["user"] == ADMIN_USER
        assert (stops[0]["operation"], stops[0]["container"], stops[0]["owner"]) == ("stop_sandbox", box["container_id"], OWNER)
        commands = (await admin.get("/admin/audit", params={"limit": "5", "kind": "command", "user": OWNER})).json()["records"]
        assert commands[0]["thread"] == thread_id
        assert commands[0]["command"] == "sleep 300"

        disk = (await admin.get("/admin/disk")).json()
        use = {u["user"]: u for u in disk["users"]}
        if disk["quotas_enforced"]:
            assert use[OWNER]["reserved_bytes"] > 0
            assert use[OWNER]["used_bytes"] > 0
            assert "budget_bytes" in use[OWNER]
