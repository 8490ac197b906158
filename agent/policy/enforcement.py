"""The policy at work in a run: verdicts recorded when the model answers, denials in the tools node.

`ToolPolicy` is built once with the graph (the admin's rules are read then); it
reads each run's own layers from the run's context (`agent.policy.layers`).

- **When the model answers** (`PolicyMiddleware`, in the model node), every tool
  call gets a verdict, its paths resolved by the file tools' walk off the event
  loop, written to a private state key with a digest of the call. HITL asks
  `when` again on resume, so the verdict must not change between the pause and
  the answer: it is read back from the state, never recomputed from a disk that
  may have changed meanwhile.
- **`when`** (`ApprovalGate`'s interrupt predicate): pause when the verdict is
  `ask`. A call without a recorded verdict (a checkpoint from before the policy,
  a call the model node never saw) is decided from its lexical paths only,
  which needs no disk.
- **In the tools node** (`ApprovalGate` calls `denial` on the call about to
  run, after a reviewer's edit is applied): the verdict is computed afresh,
  paths resolved again, so neither an edit nor a symlink swapped in after the
  review carries a call past a `deny`. A denied call does not run; the model
  gets an error result naming the rule and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, NotRequired, cast

from deepagents.backends.protocol import BackendProtocol
from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import (
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
    PrivateStateAttr,
    ToolCallRequest,
)
from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langgraph.types import Command

from agent.approval_gate import call_digest
from agent.approval_policy import COMMAND_TOOLS
from agent.policy.layers import RunRules, Verdict
from agent.policy.paths import Resolve, call_facts
from agent.policy.rules import Rule

logger = logging.getLogger(__name__)

VERDICTS_KEY = "policy_verdicts"
"""State key: `{tool_call_id: {"digest", "decision", "layer", "rule"?, "says"?}}` for the last model answer."""

DENIED = (
    "Denied by the permission policy: {rule} says {says}. {tool} did not run, and asking again will not change that; "
    "choose another way, or tell the user which rule stops you."
)
"""What the model reads instead of a denied call's result."""

NOT_COVERED = (
    "Permission rules on file paths bind the file tools only: this command can still read or write any file the "
    "sandbox's mounts give it, unless a command rule stops it."
)
"""Shown to a reviewer of `execute` when file path rules exist (docs/permissions.md)."""


class PolicyState(AgentState[Any]):
    """The verdicts of the last model answer's tool calls."""

    policy_verdicts: NotRequired[Annotated[dict[str, dict[str, Any]], PrivateStateAttr]]


def _tool_calls(response: ModelResponse[Any] | AIMessage) -> list[ToolCall]:
    messages = [response] if isinstance(response, AIMessage) else response.result
    return [call for m in messages if isinstance(m, AIMessage) for call in m.tool_calls if call.get("id")]


def _host_backend(backend: BackendProtocol | None) -> object:
    """The backend that owns the host files: a `CompositeBackend` routes everything to its default here."""
    return getattr(backend, "default", backend)


def host_resolver(backend: BackendProtocol | None) -> Callable[[], Resolve | None]:
    """How to resolve paths for the running thread: through its `HostFiles` when the backend has them."""
    files_of = getattr(_host_backend(backend), "files", None)

    def resolver() -> Resolve | None:
        if files_of is None:
            return None
        files = files_of()

        def resolve(path: str, follow_last: bool) -> tuple[str, bool] | None:  # noqa: FBT001 - the `Resolve` signature
            try:
                landing = files.canonical(path, follow_last=follow_last)
                return str(landing.path), bool(landing.is_dir)
            except Exception:  # an unresolvable path is matched as written; the file tool refuses it itself
                return None

        return resolve

    return resolver


class ToolPolicy:
    """The one policy every tool call of the graph is decided by (see the module docstring)."""

    def __init__(self, admin: tuple[Rule, ...] = (), backend: BackendProtocol | None = None) -> None:
        self.admin = admin
        self._resolver = host_resolver(backend)
        self._off_loop = getattr(_host_backend(backend), "off_loop", None)
        """`DockerSandbox.off_loop`: the file pool, shared fairly by users (else a worker thread)."""

    def rules(self, context: object) -> RunRules:
        """The run's layers."""
        return RunRules.of(self.admin, context)

    def verdict(self, call: Mapping[str, Any], context: object, resolve: Resolve | None) -> Verdict:
        """Decide one call; `resolve=None` matches its paths as written (normalised) only."""
        rules = self.rules(context)
        return rules.decide(call_facts(str(call.get("name")), call.get("args") or {}, resolve if rules.match_paths else None))

    def _resolve(self) -> Resolve | None:
        """The running thread's resolver (cheap: nothing is read until it is called)."""
        try:
            return self._resolver()
        except Exception:  # outside a run (no thread): match paths as written
            return None

    def decide(self, call: Mapping[str, Any], context: object) -> Verdict:
        """Decide one call now, its paths resolved on the running thread's disk (blocking)."""
        return self.verdict(call, context, self._resolve())

    def verdicts(self, calls: list[ToolCall], context: object) -> dict[str, dict[str, Any]]:
        """The record for one model answer (blocking: resolves paths on disk)."""
        resolve = self._resolve()
        return {str(c["id"]): {"digest": call_digest(c), **self.verdict(c, context, resolve).to_json()} for c in calls}

    # -- read back (HITL's `when`, the reviewer's details) -------------------------

    def recorded(self, call: Mapping[str, Any], state: object) -> dict[str, Any] | None:
        """The verdict recorded for this very call (same id, same digest), or None."""
        record = state.get(VERDICTS_KEY) if isinstance(state, Mapping) else None
        found = (record or {}).get(str(call.get("id")))
        return found if isinstance(found, dict) and found.get("digest") == call_digest(call) else None

    def decision_of(self, call: Mapping[str, Any], state: object, context: object) -> dict[str, Any]:
        """The recorded verdict, or one decided from the call's lexical paths."""
        return self.recorded(call, state) or self.verdict(call, context, None).to_json()

    def when(self, request: ToolCallRequest) -> bool:
        """`InterruptOnConfig.when`: pause when the call's verdict is `ask`."""
        return bool(self.decision_of(request.tool_call, request.state, request.runtime.context)["decision"] == "ask")

    def review_details(self, call: Mapping[str, Any], state: object, context: object) -> dict[str, Any]:
        """What a reviewer is shown about the policy: the rule that asks, and what rules do not cover.

        Empty when only the approval defaults ask and no path rule exists: the request keeps the shape it always had.
        """
        shown = {k: v for k, v in self.decision_of(call, state, context).items() if k != "digest"}
        rules = self.rules(context)
        if call.get("name") in COMMAND_TOOLS and any(r.paths for r in (*rules.admin, *rules.assistant, *rules.user)):
            shown["not_covered"] = NOT_COVERED
        return shown if "rule" in shown or "not_covered" in shown else {}

    # -- the tools node ------------------------------------------------------------

    def denial(self, request: ToolCallRequest) -> ToolMessage | None:
        """The error result when the call about to run is denied now (blocking), else None."""
        call = request.tool_call
        verdict = self.decide(call, request.runtime.context)
        if verdict.decision != "deny" or verdict.rule is None:
            return None
        logger.warning("Denied tool call %s (%s) by %s", call.get("id"), call["name"], verdict.rule.label)
        text = DENIED.format(rule=verdict.rule.label, says=verdict.rule.summary(), tool=call["name"])
        return ToolMessage(content=text, tool_call_id=call.get("id") or "", name=call["name"], status="error")

    async def adenial(self, request: ToolCallRequest) -> ToolMessage | None:
        """`denial` off the event loop."""
        return await self.off_loop(self.denial, request)

    async def off_loop[T](self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking policy work (it resolves paths on disk) where the backend runs its file work."""
        if self._off_loop is not None:
            return cast("T", await self._off_loop(fn, *args))
        return await asyncio.to_thread(fn, *args)

    def middleware(self) -> PolicyMiddleware:
        """The middleware that records verdicts when the model answers."""
        return PolicyMiddleware(self)


class PolicyMiddleware(AgentMiddleware[Any, Any, Any]):
    """Records a verdict for every tool call of each model answer, in the model node's own update."""

    state_schema = PolicyState

    def __init__(self, policy: ToolPolicy) -> None:
        super().__init__()
        self.policy = policy

    def _with_verdicts(self, response: ModelResponse[Any] | AIMessage, verdicts: dict[str, dict[str, Any]]) -> ExtendedModelResponse[Any]:
        model_response = response if isinstance(response, ModelResponse) else ModelResponse(result=[response])
        return ExtendedModelResponse(model_response=model_response, command=Command(update={VERDICTS_KEY: verdicts}))

    def wrap_model_call(self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]) -> Any:  # noqa: D102
        response = handler(request)
        return self._with_verdicts(response, self.policy.verdicts(_tool_calls(response), request.runtime.context))

    async def awrap_model_call(  # noqa: D102
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> Any:
        response = await handler(request)
        calls = _tool_calls(response)
        verdicts = await self.policy.off_loop(self.policy.verdicts, calls, request.runtime.context) if calls else {}
        return self._with_verdicts(response, verdicts)
