"""Harness self-check: `langgraph dev` + scripted LLM + SDK helpers on a stand-in graph.

No Docker and no product code: if this passes and an e2e test fails, look at the product.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from tests.support.agent_client import (
    approve,
    content_text,
    edit,
    pending_interrupt_values,
    reject,
    resume,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.langgraph_server import LangGraphServer, ServerStartError, isolated_config, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say

pytestmark = pytest.mark.e2e

STUB_CONFIG = Path(__file__).parent / "stub" / "langgraph.json"


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(scope="module")
def stub_server(llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangGraphServer]:
    env = {"ZHIPUAI_API_BASE": llm.base_url, "ZHIPUAI_API_KEY": "x"}
    with run_langgraph_dev(workdir=tmp_path_factory.mktemp("stub-server"), env=env, config=STUB_CONFIG) as server:
        yield server


async def test_hitl_round_trip_through_the_sdk(stub_server: LangGraphServer, llm: ScriptedLLM) -> None:
    llm.add_scenario(
        "harness-hitl",
        call("write_file", file_path="/w/a.txt", content="A"),
        call("execute", command="echo original"),
        call("execute", command="rm -rf /"),
        say(echo_last_tool_output()),
    )
    client = get_client(url=stub_server.url)
    thread_id = (await client.threads.create())["thread_id"]

    first = await stream_run(client, thread_id, input=user_input("harness-hitl please"))
    assert any(n.startswith("messages/") for n in first.event_names), first.describe()
    assert "updates" in first.event_names, first.describe()
    assert [a["name"] for a in first.action_requests] == ["write_file"], first.describe()
    state = await thread_state(client, thread_id)
    assert [a["name"] for v in pending_interrupt_values(state) for a in v["action_requests"]] == ["write_file"]

    second = await stream_run(client, thread_id, command=resume(approve()))
    assert [a["args"] for a in second.action_requests] == [{"command": "echo original"}], second.describe()

    third = await stream_run(client, thread_id, command=resume(edit("execute", {"command": "echo edited"})))
    assert [a["args"] for a in third.action_requests] == [{"command": "rm -rf /"}], third.describe()

    fourth = await stream_run(client, thread_id, command=resume(reject("never")))
    assert not fourth.interrupts, fourth.describe()
    assert "never" in fourth.final_ai_text, fourth.describe()

    state = await thread_state(client, thread_id)
    outputs = [content_text(m) for m in tool_messages(state, "execute")]
    assert "ran: echo edited" in outputs[0], outputs
    assert "never" in outputs[1], outputs
    step3 = [r for r in llm.requests_for("harness-hitl") if r.step == 3]
    assert step3, "the model was not called after the rejection"
    assert any("never" in o for o in step3[-1].tool_outputs())


def test_startup_failure_reports_the_log(tmp_path: Path) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text('{"dependencies": ["."], "graphs": {"agent": "./missing.py:agent"}}', encoding="utf-8")
    with pytest.raises(ServerStartError, match=r"missing\.py"), run_langgraph_dev(workdir=tmp_path / "home", env={}, config=config):
        pass


def test_isolated_config_points_every_path_back_to_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    config = repo / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "dependencies": ["."],
                "graphs": {"agent": "./agent/graph.py:agent"},
                "http": {"app": "./server/app.py:app"},
                "auth": {"path": "./server/auth.py:auth"},
                "env": ".env",
            }
        ),
        encoding="utf-8",
    )
    private = tmp_path / "private"
    private.mkdir()
    data = json.loads(isolated_config(config, private).read_text(encoding="utf-8"))
    root = repo.resolve()
    assert data["graphs"]["agent"] == f"{root}/agent/graph.py:agent"
    assert data["http"]["app"] == f"{root}/server/app.py:app"
    assert data["auth"]["path"] == f"{root}/server/auth.py:auth"
    assert data["dependencies"] == [str(root)]
    assert "env" not in data
