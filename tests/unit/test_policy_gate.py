"""The policy inside a real agent graph: verdicts recorded when the model answers, denials in the tools node.

LangChain's `create_agent` with the scripted model, an in-memory checkpointer,
`PolicyMiddleware` and `ApprovalGate` as the served graph wires them, and a
`write_file` tool that records each run. No sandbox: paths match as written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.approval_gate import ApprovalGate
from agent.approval_policy import interrupt_on
from agent.model import build_chat_model
from agent.policy.enforcement import VERDICTS_KEY, ToolPolicy
from agent.policy.rules import parse_rules
from config.model import ModelSettings
from tests.support.scripted_llm import ScriptedLLM, call, say

ADMIN = parse_rules([{"name": "no secrets", "paths": ["**/.env"], "mode": "deny"}], "admin")


@pytest.fixture(scope="module")
def scripted_llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as llm:
        yield llm


class Harness:
    """A graph whose `write_file` appends the path it was given to `ran`."""

    def __init__(self, llm: ScriptedLLM) -> None:
        self.ran: list[str] = []

        @tool("write_file")
        def write_file(file_path: str, content: str) -> str:
            """Write a file."""
            self.ran.append(file_path)
            return f"wrote {file_path}"

        policy = ToolPolicy(ADMIN)
        model = build_chat_model(ModelSettings(api_key="k", api_base=llm.base_url, model="m", thinking=False, timeout_seconds=10))
        gate = ApprovalGate(interrupt_on=interrupt_on(lambda *_: "review", policy.when), policy=policy)
        self.graph = create_agent(model=model, tools=[write_file], middleware=[policy.middleware(), gate], checkpointer=InMemorySaver())
        self.config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}

    def start(self, llm: ScriptedLLM, path: str) -> dict[str, Any]:
        trigger = f"policy-gate-{uuid.uuid4().hex[:8]}"
        llm.add_scenario(trigger, call("write_file", file_path=path, content="x"), say("done"))
        return self.graph.invoke({"messages": [{"role": "user", "content": trigger}]}, self.config)

    def tool_results(self) -> list[ToolMessage]:
        messages = self.graph.get_state(self.config).values["messages"]
        return [m for m in messages if isinstance(m, ToolMessage)]


def test_a_denied_call_does_not_pause_does_not_run_and_names_the_rule(scripted_llm: ScriptedLLM) -> None:
    harness = Harness(scripted_llm)
    result = harness.start(scripted_llm, "/workspace/app/.env")
    assert not result.get("__interrupt__"), result
    assert harness.ran == []
    [refusal] = harness.tool_results()
    assert refusal.status == "error"
    assert "admin rule 1 'no secrets'" in str(refusal.content)


def test_the_verdict_is_recorded_and_a_paused_call_runs_once_approved(scripted_llm: ScriptedLLM) -> None:
    harness = Harness(scripted_llm)
    result = harness.start(scripted_llm, "/workspace/notes.txt")
    [pending] = result["__interrupt__"]
    assert [a["args"]["file_path"] for a in pending.value["action_requests"]] == ["/workspace/notes.txt"]
    recorded = harness.graph.get_state(harness.config).values[VERDICTS_KEY]
    assert [v["decision"] for v in recorded.values()] == ["ask"]
    harness.graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), harness.config)
    assert harness.ran == ["/workspace/notes.txt"]


def test_a_reviewer_edit_onto_a_denied_path_is_denied_when_it_would_run(scripted_llm: ScriptedLLM) -> None:
    harness = Harness(scripted_llm)
    harness.start(scripted_llm, "/workspace/notes.txt")
    edited = {"type": "edit", "edited_action": {"name": "write_file", "args": {"file_path": "/workspace/.env", "content": "x"}}}
    harness.graph.invoke(Command(resume={"decisions": [edited]}), harness.config)
    assert harness.ran == []
    assert any("admin rule 1 'no secrets'" in str(m.content) for m in harness.tool_results())
