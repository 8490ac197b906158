"""A thread id has one spelling on both servers: another spelling never becomes a thread of its own.

`langgraph dev` parses every id as a UUID, so another spelling names the canonical thread;
Aegra compares strings, so without the auth module's refusal another spelling would be a
second thread, with a second workspace and quota image.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV

pytestmark = [pytest.mark.e2e]


async def test_creating_a_thread_or_run_under_another_spelling_of_an_id_never_makes_a_second_thread(engine_server: AuthServer) -> None:
    headers = {"Authorization": f"Bearer {engine_server.keys.token('user-a')}"}
    async with httpx.AsyncClient(base_url=engine_server.url, headers=headers, timeout=60) as alice:
        canonical = str(uuid.uuid4())
        for alias in (canonical.upper(), uuid.UUID(canonical).hex):
            created = await alice.post("/threads", json={"thread_id": alias})
            if created.status_code == 200:  # mapped to the canonical thread
                assert created.json()["thread_id"] == canonical, created.text
                assert (await alice.delete(f"/threads/{canonical}")).status_code in (200, 204)
            else:
                assert created.status_code == 422, (alias, created.status_code, created.text)
                assert canonical in created.text, created.text
            if engine_server.engine != LANGGRAPH_DEV:
                run = await alice.post(f"/threads/{alias}/runs", json={"assistant_id": "agent", "input": None, "if_not_exists": "create"})
                assert run.status_code == 422, (alias, run.status_code, run.text)
                assert (await alice.get(f"/threads/{alias}")).status_code == 404
        # The canonical spelling is a thread like any other.
        assert (await alice.post("/threads", json={"thread_id": canonical})).status_code == 200
        assert (await alice.delete(f"/threads/{canonical}")).status_code in (200, 204)
