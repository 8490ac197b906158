"""The approval middleware, with a lock on the tools node: a gated call runs only once a reviewer approved it.

`HumanInTheLoopMiddleware` asks for decisions in its `after_model` node; the
tools node that comes next trusts whatever tool calls the state holds. A
client that can jump to the tools node (`Command(goto=...)`), write the state as
if the approval node had run (`update_state(as_node=...)`), or resume a copy or
an older checkpoint would reach a gated call that nobody approved. The server
refuses those requests (`server/approval_checks.py`, `server/state_writes.py`);
this module is the second lock, inside the graph, so that a route the server
does not know of yet still cannot run a gated call.

`ApprovalGate` is the same middleware (same name, so the same graph node names
and the same interrupt payloads) plus one record, written by its own
`after_model` node in the same step that applies the reviewer's answer: the
tool calls of that turn that may run, each with a digest of its name and
arguments. In the tools node, a call that the run's policy gates runs only
when its id is in that record with the same digest and it has no result yet;
otherwise the model gets an error result and nothing runs. The record is a
private state key (not in the graph's input or output), and clients cannot
write the state at all, so it cannot be forged through the API.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, NotRequired, Protocol, cast

from langchain.agents.middleware import AgentMiddleware, HumanInTheLoopMiddleware
from langchain.agents.middleware.human_in_the_loop import Action, ActionRequest, InterruptOnConfig, ReviewConfig
from langchain.agents.middleware.types import AgentState, PrivateStateAttr, ToolCallRequest
from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent.approval_policy import ToolGates
from sandbox.runs.run_context import current_run_id

logger = logging.getLogger(__name__)

APPROVED_KEY = "approved_tool_calls"
"""State key: `{tool_call_id: digest}` of the calls the approval node let through this turn."""
APPROVAL_RUN_KEY = "approval_run"
"""State key: the id of the run whose approval step wrote that record (None outside a server run).

A run that Aegra re-queues after its worker died keeps its id, a new approval (even of
the same call, from an older checkpoint) comes in a new run: `agent.command_journal`
tells the two apart by it."""

DetailsOf = Callable[[ToolCall], dict[str, Any]]
"""Structured facts about a gated call, added to its action request (see `ApprovalGate`)."""

REFUSAL = (
    "Refused: {name} needs a reviewer's approval and this call has none on record, so it did not run. "
    "Calls only run after the approval step of the turn that made them."
)
"""What the model reads instead of the tool's result when a gated call arrives unapproved."""


class PolicyGuard(Protocol):
    """The permission policy as the gate consults it (`agent.policy.enforcement.ToolPolicy`)."""

    def denial(self, request: ToolCallRequest) -> ToolMessage | None:
        """The error result when the call about to run is denied, else None."""

    async def adenial(self, request: ToolCallRequest) -> ToolMessage | None:
        """Async variant of `denial`."""

    def review_details(self, call: Mapping[str, Any], state: object, context: object) -> dict[str, Any]:
        """What the reviewer is shown about the policy's verdict on `call`."""


class ApprovalGateState(AgentState[Any]):
    """HITL's own state plus the record of what the approval node let through."""

    hitl_edited_tool_calls: NotRequired[Annotated[dict[str, Action], PrivateStateAttr]]
    approved_tool_calls: NotRequired[Annotated[dict[str, str], PrivateStateAttr]]
    approval_run: NotRequired[Annotated[str | None, PrivateStateAttr]]


def call_digest(call: Mapping[str, Any]) -> str:
    """SHA-256 of a tool call's name and arguments: the record holds this, so a rewritten call does not match."""
    canonical = json.dumps([call.get("name"), call.get("args")], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _last_ai_message(messages: Sequence[Any]) -> AIMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def _answered_ids(messages: Sequence[Any]) -> set[str]:
    return {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}


def passed_calls(state: Mapping[str, Any], update: Mapping[str, Any] | None) -> dict[str, str]:
    """The record for this turn: every call of the last AI message that the approval step did not answer itself.

    `update` is what HITL's `after_model` returned: the AI message with the calls
    that stay, followed by the results of rejected or answered calls. With no
    update (nothing needed a decision) the state's last AI message is the turn.
    """
    new_messages: list[AnyMessage] = list((update or {}).get("messages") or [])
    turn = _last_ai_message(new_messages) or _last_ai_message(list(state.get("messages") or []))
    if turn is None:
        return {}
    answered = _answered_ids(new_messages)
    return {str(call["id"]): call_digest(call) for call in turn.tool_calls if call.get("id") and call["id"] not in answered}


class ApprovalGate(HumanInTheLoopMiddleware[Any, Any, Any]):
    """`HumanInTheLoopMiddleware` that also refuses, in the tools node, any gated call the approval step did not pass.

    With `details`, every action request also carries `details`: the facts of
    its description as data, for clients that word them in their own language
    (`agent.approval_details`). HITL's own fields stay, so other clients see
    the standard shape.
    """

    state_schema = ApprovalGateState

    def __init__(
        self,
        *,
        interrupt_on: Mapping[str, Any],
        details: DetailsOf | None = None,
        policy: PolicyGuard | None = None,
        inner: AgentMiddleware[Any, Any, Any] | None = None,
    ) -> None:
        super().__init__(interrupt_on=dict(interrupt_on))
        if isinstance(interrupt_on, ToolGates):  # HITL copied the named tools; keep the MCP servers' tools gated too
            self.interrupt_on = interrupt_on.widened(self.interrupt_on)
        self.details = details
        self.policy = policy
        """With a policy, a denied call never runs (checked on the call about to run, edits applied),
        and every action request names the rule that asks for it (`details.policy`, and the description)."""
        self.inner = inner
        """Middleware whose tool-call wrapper runs inside the gate, around the tool itself: it sees only
        calls that may run, with the reviewer's edits applied (`agent.command_journal`). deepagents
        places a caller's other middleware outside the approval step, so this is the way in."""

    def _create_action_and_config(
        self, tool_call: ToolCall, config: InterruptOnConfig, state: AgentState[Any], runtime: Runtime[Any]
    ) -> tuple[ActionRequest, ReviewConfig]:
        action, review = super()._create_action_and_config(tool_call, config, state, runtime)
        if self.details is None and self.policy is None:
            return action, review
        # `ActionRequest` is a TypedDict without this key; clients that do not know it ignore it.
        details = self.details(tool_call) if self.details is not None else {"tool": tool_call["name"]}
        if self.policy is not None and (verdict := self.policy.review_details(tool_call, state, runtime.context)):
            details = {**details, "policy": verdict}
            action = cast("ActionRequest", {**action, "description": _with_policy(action.get("description", ""), verdict)})
        return cast("ActionRequest", {**action, "details": details}), review

    @property
    def name(self) -> str:
        """HITL's own name: it takes HITL's place in deepagents' stack and keeps its node names."""
        return HumanInTheLoopMiddleware.__name__

    def after_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """HITL's decisions, plus the record of the calls that may run (always written: no earlier turn's record survives)."""
        update = super().after_model(state, runtime)
        return {**(update or {}), APPROVED_KEY: passed_calls(state, update), APPROVAL_RUN_KEY: current_run_id()}

    async def aafter_model(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async variant of `after_model` (HITL's own is synchronous too)."""
        return self.after_model(state, runtime)

    def refusal(self, request: ToolCallRequest) -> ToolMessage | None:
        """The error result for a gated call that has no approval on record, or None when it may run."""
        call: ToolCall = request.tool_call
        config = self.interrupt_on.get(call["name"])
        if config is None:
            return None
        when = config.get("when")
        if when is not None and not when(request):
            return None
        state = request.state if isinstance(request.state, Mapping) else {}
        record: Mapping[str, str] = state.get(APPROVED_KEY) or {}
        call_id = call.get("id")
        if call_id and record.get(call_id) == call_digest(call) and call_id not in _answered_ids(state.get("messages") or []):
            return None
        logger.warning("Refused tool call %s (%s): no approval on record for it", call_id, call["name"])
        return ToolMessage(content=REFUSAL.format(name=call["name"]), tool_call_id=call_id or "", name=call["name"], status="error")

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]
    ) -> ToolMessage | Command[Any]:
        """Run the call through HITL (edits applied) only when the approval step passed it and the policy does not deny it."""
        refused = self.refusal(request)
        if refused is not None:
            return refused
        policy, inner = self.policy, self.inner

        def guarded(to_run: ToolCallRequest) -> ToolMessage | Command[Any]:
            denied = policy.denial(to_run) if policy is not None else None
            if denied is not None:
                return denied
            return inner.wrap_tool_call(to_run, handler) if inner is not None else handler(to_run)

        return super().wrap_tool_call(request, guarded)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
    ) -> ToolMessage | Command[Any]:
        """Async variant of `wrap_tool_call`."""
        refused = self.refusal(request)
        if refused is not None:
            return refused
        policy, inner = self.policy, self.inner

        async def guarded(to_run: ToolCallRequest) -> ToolMessage | Command[Any]:
            denied = await policy.adenial(to_run) if policy is not None else None
            if denied is not None:
                return denied
            return await inner.awrap_tool_call(to_run, handler) if inner is not None else await handler(to_run)

        return await super().awrap_tool_call(request, guarded)


def _with_policy(description: str, verdict: Mapping[str, Any]) -> str:
    """The description, with the rule that asks for a review (and what rules do not cover) below it."""
    lines = [description]
    if verdict.get("rule"):
        lines.append(f"permission policy: {verdict['rule']} ({verdict.get('says')})")
    if verdict.get("not_covered"):
        lines.append(str(verdict["not_covered"]))
    return "\n\n".join(line for line in lines if line)
