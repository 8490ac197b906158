"""A command the agent started is never started again by a re-run of the same run, only by a new approval.

A real agent graph (LangChain's `create_agent`, the scripted model, an in-memory
checkpointer and a real `InMemoryStore`) with one approval-gated `execute` tool
that records each run. A server process dying in the middle of the command is
an exception no middleware catches (`ProcessDied`, a `BaseException`): the graph
stops where it is, as a killed process does, and the checkpoint after the
approval step is the last one. Invoking the graph again with the same run id and
the same resume is what Aegra does when it re-queues the run on another process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, InterruptOnConfig
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from agent.approval_gate import ApprovalGate
from agent.command_journal import CommandJournal, forget_thread, journal_namespace
from agent.model import build_chat_model
from config.model import ModelSettings
from tests.support.scripted_llm import ScriptedLLM, call, say

APPROVE = Command(resume={"decisions": [{"type": "approve"}]})


class ProcessDied(BaseException):
    """The server process stopped here: nothing after this point of the run happens."""


@pytest.fixture(scope="module")
def scripted_llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as llm:
        yield llm


class DieAfterTool(AgentMiddleware[Any, Any, Any]):
    """Outside the gate: the process dies once the tool returned, before its result reaches a checkpoint."""

    def __init__(self) -> None:
        self.armed = False

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        result = handler(request)
        if self.armed:
            self.armed = False
            raise ProcessDied
        return result


class Harness:
    """A graph whose gated `execute` appends its command to `ran`, and dies when told to."""

    def __init__(self, llm: ScriptedLLM, *, store: InMemoryStore | None, inner: bool = True) -> None:
        self.ran: list[str] = []
        self.die_in_command = False
        self.die_after = DieAfterTool()

        @tool("execute")
        def execute(command: str) -> str:
            """Run a shell command."""
            self.ran.append(command)
            if self.die_in_command:
                self.die_in_command = False
                raise ProcessDied
            return f"ran {command}"

        @tool("read_notes")
        def read_notes() -> str:
            """Not a command."""
            return "notes"

        model = build_chat_model(ModelSettings(api_key="k", api_base=llm.base_url, model="m", thinking=False, timeout_seconds=10))
        gates = {"execute": InterruptOnConfig(allowed_decisions=["approve", "edit", "reject"])}
        gate = ApprovalGate(interrupt_on=gates, inner=CommandJournal() if inner else None)
        self.store = store
        self.graph = create_agent(
            model=model, tools=[execute, read_notes], middleware=[self.die_after, gate], checkpointer=InMemorySaver(), store=store
        )
        self.thread_id = str(uuid.uuid4())

    def config(self, run_id: str, checkpoint_id: str | None = None) -> Any:
        configurable = {"thread_id": self.thread_id, "run_id": run_id}
        return {"configurable": {**configurable, "checkpoint_id": checkpoint_id} if checkpoint_id else configurable}

    def paused(self, llm: ScriptedLLM, command: str) -> None:
        trigger = f"journal-{uuid.uuid4().hex[:8]}"
        llm.add_scenario(trigger, call("execute", command=command), say("done"))
        result = self.graph.invoke({"messages": [{"role": "user", "content": trigger}]}, self.config(str(uuid.uuid4())))
        assert result.get("__interrupt__"), result

    def send(self, command: Any, run_id: str, checkpoint_id: str | None = None) -> list[Any]:
        return list(self.graph.invoke(command, self.config(run_id, checkpoint_id))["messages"])

    def dies(self, command: Any, run_id: str) -> None:
        with pytest.raises(ProcessDied):
            self.graph.invoke(command, self.config(run_id))


def results(messages: list[Any]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage) and m.name == "execute"]


def test_a_rerun_after_the_process_died_mid_command_does_not_start_it_again(scripted_llm: ScriptedLLM) -> None:
    harness = Harness(scripted_llm, store=InMemoryStore())
    harness.paused(scripted_llm, "echo x >> count")
    run_id = str(uuid.uuid4())
    harness.die_in_command = True
    harness.dies(APPROVE, run_id)
    messages = harness.send(APPROVE, run_id)  # Aegra re-queues the same run
    assert harness.ran == ["echo x >> count"]
    [result] = results(messages)
    assert result.status == "error"
    assert "Interrupted" in result.text
    assert "not started again" in result.text
    assert "echo x >> count" in result.text


def test_without_the_journal_the_rerun_starts_the_command_a_second_time(scripted_llm: ScriptedLLM) -> None:
    """What the journal prevents; also what happens with no store (the journal passes calls through)."""
    for harness in (Harness(scripted_llm, store=InMemoryStore(), inner=False), Harness(scripted_llm, store=None)):
        harness.paused(scripted_llm, "echo y >> count")
        run_id = str(uuid.uuid4())
        harness.die_in_command = True
        harness.dies(APPROVE, run_id)
        harness.send(APPROVE, run_id)
        assert harness.ran == ["echo y >> count", "echo y >> count"]


def test_a_command_that_finished_before_the_process_died_gives_its_recorded_result(scripted_llm: ScriptedLLM) -> None:
    harness = Harness(scripted_llm, store=InMemoryStore())
    harness.paused(scripted_llm, "echo z")
    run_id = str(uuid.uuid4())
    harness.die_after.armed = True
    harness.dies(APPROVE, run_id)
    messages = harness.send(APPROVE, run_id)
    assert harness.ran == ["echo z"]
    [result] = results(messages)
    assert result.status == "success"
    assert result.text.startswith("ran echo z")
    assert "not run again" in result.text


def test_a_new_approval_of_the_same_call_runs_it_again(scripted_llm: ScriptedLLM) -> None:
    """A run from the checkpoint paused on the approval, answered again, is a new request: it runs."""
    harness = Harness(scripted_llm, store=InMemoryStore())
    harness.paused(scripted_llm, "echo again")
    history = list(harness.graph.get_state_history(harness.config("any")))
    paused_at = next(s for s in history if s.interrupts).config["configurable"]["checkpoint_id"]
    harness.send(APPROVE, str(uuid.uuid4()))
    messages = harness.send(APPROVE, str(uuid.uuid4()), checkpoint_id=paused_at)
    assert harness.ran == ["echo again", "echo again"]
    assert results(messages)[-1].text == "ran echo again"


def test_the_journal_records_commands_of_the_thread_only(scripted_llm: ScriptedLLM) -> None:
    store = InMemoryStore()
    harness = Harness(scripted_llm, store=store)
    harness.paused(scripted_llm, "echo kept")
    harness.send(APPROVE, str(uuid.uuid4()))
    trigger = f"journal-notes-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("read_notes"), say("done"))
    harness.send({"messages": [{"role": "user", "content": trigger}]}, str(uuid.uuid4()))
    entries = store.search(journal_namespace(harness.thread_id))
    assert [(e.value["tool"], e.value["command"], e.value["state"], e.value["result"]) for e in entries] == [
        ("execute", "echo kept", "finished", "ran echo kept")
    ]
    assert store.search(journal_namespace(str(uuid.uuid4()))) == []


def test_a_thread_id_with_periods_names_a_valid_namespace() -> None:
    store = InMemoryStore()
    namespace = journal_namespace("my.thread")
    store.put(namespace, "call", {"state": "started"})
    assert namespace != journal_namespace("my%2Ethread")
    assert store.get(namespace, "call") is not None


async def test_forgetting_a_thread_removes_its_journal_only() -> None:
    store = InMemoryStore()
    for thread in ("gone", "kept"):
        for n in range(150):  # more than one search page
            await store.aput(journal_namespace(thread), f"call-{n}", {"state": "finished"})
    assert await forget_thread(store, "gone") == 150
    assert await store.asearch(journal_namespace("gone")) == []
    assert len(await store.asearch(journal_namespace("kept"), limit=1000)) == 150
    assert await forget_thread(store, "never-there") == 0
