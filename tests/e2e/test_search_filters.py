"""Thread search and count with a `values` filter, while some of the caller's threads have no state yet.

A thread created with `threads.create` has no values until its first run. On
`langgraph dev` a search or count filtered on values then failed with a 500 for
every caller who owned such a thread (found by the API fuzzer); now it answers
with the threads whose values contain the filter, as PostgreSQL's `@>` does.
Aegra answers 200 but ignores a `values` filter, and has no count route (docs/deployment.md:
where the servers differ).
"""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import GRAPH_ID, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


async def test_a_values_filter_skips_threads_without_state(
    engine_server: AuthServer, engine_client: LangGraphClient, scripted_llm: ScriptedLLM
) -> None:
    marker = f"values-filter-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(marker, say("ok"))
    empty = await engine_client.threads.create(metadata={"marker": marker})
    ran = await engine_client.threads.create(metadata={"marker": marker})
    await engine_client.runs.wait(ran["thread_id"], GRAPH_ID, input=user_input(marker))

    everything = await engine_client.threads.search(metadata={"marker": marker}, limit=10)
    assert {t["thread_id"] for t in everything} == {empty["thread_id"], ran["thread_id"]}

    honoured = engine_server.engine == LANGGRAPH_DEV
    for values in ({"no-such-key": 1}, {"messages": "not a list"}, {"": {"nested": [None]}}):
        found = await engine_client.threads.search(metadata={"marker": marker}, values=values, limit=10)
        if not honoured:
            assert len(found) == 2  # Aegra has no threads.count route (405)
            continue
        assert found == []
        assert await engine_client.threads.count(metadata={"marker": marker}, values=values) == 0
