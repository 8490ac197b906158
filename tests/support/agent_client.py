"""Drive the `agent` graph through the LangGraph SDK, the way a real client does.

`stream_run()` streams one run over SSE (`messages` + `updates` by default) and
folds the events into a `RunOutcome`: the interrupts raised, errors, and the
latest version of every streamed message. The `approve()` / `reject()` /
`edit()` / `respond()` builders produce the decisions langchain's
`HumanInTheLoopMiddleware` (batched mode) expects, and `resume()` wraps them in
the `Command` payload for `client.runs.stream(..., command=...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Assistant

from tests.support.scripted_llm import message_text as content_text

GRAPH_ID = "agent"
DEFAULT_STREAM_MODES: tuple[str, ...] = ("messages", "updates")
RUN_TIMEOUT = 180.0
"""Seconds one run may stream before the test gives up."""


@contextlib.asynccontextmanager
async def sdk_client(
    url: str,
    timeout: float = RUN_TIMEOUT,  # noqa: ASYNC109 - an HTTP client setting
    *,
    token: str | None = None,
) -> AsyncIterator[LangGraphClient]:
    """An async langgraph-sdk client for `url` (sending `token` as a bearer token), closed on exit."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    # (connect, read, write, pool), as httpx reads a 4-tuple
    sdk = get_client(url=url, timeout=(10.0, timeout, timeout, timeout), headers=headers)
    try:
        yield sdk
    finally:
        await sdk.aclose()


def message_type(message: dict[str, Any]) -> str:
    """`ai`, `tool`, `human`, ... (chunk types such as `AIMessageChunk` map to `ai`)."""
    kind = str(message.get("type") or message.get("role") or "").lower()
    for name, aliases in {"ai": ("ai", "assistant"), "tool": ("tool",), "human": ("human", "user")}.items():
        if any(kind.startswith(alias) for alias in aliases):
            return name
    return kind


# --------------------------------------------------------------------------- #
# Decisions
# --------------------------------------------------------------------------- #


def approve() -> dict[str, Any]:
    """Run the tool call as the model asked."""
    return {"type": "approve"}


def reject(message: str | None = None) -> dict[str, Any]:
    """Do not run the tool call; `message` is told to the model."""
    decision: dict[str, Any] = {"type": "reject"}
    if message is not None:
        decision["message"] = message
    return decision


def edit(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run `name(**args)` instead of the model's call."""
    return {"type": "edit", "edited_action": {"name": name, "args": args}}


def respond(message: str) -> dict[str, Any]:
    """Skip the tool; `message` becomes its result."""
    return {"type": "respond", "message": message}


def resume(*decisions: dict[str, Any]) -> dict[str, Any]:
    """The `command` that resumes a batched HITL interrupt with `decisions` (in call order)."""
    return {"resume": {"decisions": list(decisions)}}


# --------------------------------------------------------------------------- #
# Streaming a run
# --------------------------------------------------------------------------- #


@dataclass
class RunOutcome:
    """Everything one streamed run produced."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    interrupts: list[dict[str, Any]] = field(default_factory=list)
    """Interrupt objects (`{"value": ..., "id": ...}`) seen in `updates` events."""
    errors: list[Any] = field(default_factory=list)
    """Payloads of `error` events."""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Latest streamed version of each message, by id, in first-seen order."""
    partial_counts: dict[str, int] = field(default_factory=dict)
    """How many `messages/partial` events each message id had."""

    @property
    def event_names(self) -> list[str]:
        """The SSE event names, in order."""
        return [name for name, _ in self.events]

    @property
    def interrupt_values(self) -> list[dict[str, Any]]:
        """The `value` of each interrupt (a `HITLRequest` for this agent)."""
        return [i.get("value", i) if isinstance(i, dict) else i for i in self.interrupts]

    @property
    def action_requests(self) -> list[dict[str, Any]]:
        """All `action_requests` of this run's interrupts."""
        return [a for v in self.interrupt_values if isinstance(v, dict) for a in v.get("action_requests", [])]

    def messages_of(self, kind: str) -> list[dict[str, Any]]:
        """Streamed messages of one type (`ai`, `tool`, `human`)."""
        return [m for m in self.messages.values() if message_type(m) == kind]

    @property
    def ai_texts(self) -> list[str]:
        """Texts of the streamed AI messages."""
        return [content_text(m) for m in self.messages_of("ai")]

    @property
    def final_ai_text(self) -> str:
        """Text of the last streamed AI message with text ("" when none)."""
        texts = [t for t in self.ai_texts if t]
        return texts[-1] if texts else ""

    def describe(self) -> str:
        """A compact summary for assertion messages."""
        return (
            f"events={self.event_names[:60]!r} interrupts={self.interrupt_values!r} "
            f"errors={self.errors!r} ai_texts={self.ai_texts!r} "
            f"tool_texts={[content_text(m) for m in self.messages_of('tool')]!r}"
        )

    def _add(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        if event == "error":
            self.errors.append(data)
        elif event.startswith("updates") and isinstance(data, dict):
            found = data.get("__interrupt__")
            if isinstance(found, list):
                self.interrupts.extend(found)
        elif event.startswith("messages/") and isinstance(data, list):
            for message in data:
                if isinstance(message, dict) and message.get("id"):
                    self.messages[str(message["id"])] = message
                    if event.startswith("messages/partial"):
                        key = str(message["id"])
                        self.partial_counts[key] = self.partial_counts.get(key, 0) + 1
        elif event.startswith("messages") and isinstance(data, list) and data and isinstance(data[0], dict):
            # `messages-tuple` shape: [chunk, metadata]; keep the accumulated text.
            chunk = data[0]
            key = str(chunk.get("id"))
            previous = self.messages.get(key)
            if previous is not None and isinstance(chunk.get("content"), str):
                merged = {**chunk, "content": content_text(previous) + chunk["content"]}
                self.messages[key] = merged
            else:
                self.messages[key] = chunk


async def stream_run(
    client: LangGraphClient,
    thread_id: str,
    *,
    input: dict[str, Any] | None = None,
    command: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    stream_mode: Sequence[str] = DEFAULT_STREAM_MODES,
    run_timeout: float = RUN_TIMEOUT,
    assistant_id: str = GRAPH_ID,
) -> RunOutcome:
    """Stream one run of the `agent` graph (or one of its assistants) on `thread_id` to its end."""
    outcome = RunOutcome()
    async with asyncio.timeout(run_timeout):
        async for part in client.runs.stream(
            thread_id,
            assistant_id,
            input=input,
            command=command,  # type: ignore[arg-type]
            context=context,
            stream_mode=list(stream_mode),  # type: ignore[arg-type]
        ):
            outcome._add(part.event, part.data)
    return outcome


def user_input(text: str) -> dict[str, Any]:
    """The graph input for one user message."""
    return {"messages": [{"role": "user", "content": text}]}


# --------------------------------------------------------------------------- #
# Thread state
# --------------------------------------------------------------------------- #


async def thread_state(client: LangGraphClient, thread_id: str) -> dict[str, Any]:
    """The thread's current state as the server reports it."""
    return dict(await client.threads.get_state(thread_id))


def pending_interrupt_values(state: dict[str, Any]) -> list[Any]:
    """Values of the interrupts the thread is paused on (top-level and per task)."""
    found: dict[str, Any] = {}
    sources = list(state.get("interrupts") or [])
    for task in state.get("tasks") or []:
        sources.extend(task.get("interrupts") or [])
    for index, interrupt in enumerate(sources):
        key = str(interrupt.get("id") or interrupt.get("interrupt_id") or index) if isinstance(interrupt, dict) else str(index)
        found.setdefault(key, interrupt.get("value") if isinstance(interrupt, dict) else interrupt)
    return list(found.values())


def state_messages(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The `messages` channel of a thread state."""
    values = state.get("values") or {}
    messages = values.get("messages") if isinstance(values, dict) else None
    return list(messages or [])


def tool_messages(state: dict[str, Any], name: str | None = None) -> list[dict[str, Any]]:
    """Tool messages in a thread state, optionally only those of tool `name`."""
    return [m for m in state_messages(state) if message_type(m) == "tool" and (name is None or m.get("name") == name)]


def last_ai_text(state: dict[str, Any]) -> str:
    """Text of the thread's last AI message ("" when none)."""
    texts = [content_text(m) for m in state_messages(state) if message_type(m) == "ai"]
    return texts[-1] if texts else ""


async def create_assistant(client: LangGraphClient, name: str, context: dict[str, Any], graph_id: str = GRAPH_ID) -> Assistant:
    """A new assistant of `graph_id` with `context`, on either server.

    Aegra keeps one assistant per user, graph and `config` (a unique index), so two of
    one user's assistants that differ only in `context` conflict there (409). Each gets
    a `config` of its own, its name as a tag, as a user of Aegra would do.
    """
    return await client.assistants.create(graph_id=graph_id, context=context, name=name, config={"tags": [f"assistant:{name}"]})
