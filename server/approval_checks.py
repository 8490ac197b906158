"""Approval checks the server makes before anything is stored: answers, and where a policy lives.

Malformed answers are refused before a run exists, so a bad answer can never stick.

A malformed answer that reached a run would break the approval on either server:
`langgraph dev` keeps a failed run's resume with the thread and replays its
error on every later resume, and Aegra answers later resumes with 400 "thread
is not in interrupted state". The `threads.create_run` auth handler runs before
the run is stored on both, sees its command, and can refuse it with a 4xx;
`server/auth.py` calls `refuse_bad_resume` from there. That covers
`POST /threads/{id}/runs`, `/runs/stream`, `/runs/wait` and the v2
`POST /threads/{id}/commands` (`input.respond`, and on Aegra `run.start` input
to a paused thread, which Aegra takes as the answer). `run_request` reads the
handler's value in the shape each server passes it; the thread is read through
`server.engine`, from whichever server runs this process.

The handler also refuses any command that carries `update` or `goto`
(`refuse_state_command`), on every thread: either one reaches the tools node
without the approval step. (State writes outside a run are refused by
`server/state_writes.py`; the graph's own gate, `agent/approval_gate.py`, is the
second lock.)

The same handler keeps the approval policy where it belongs: on the assistant.
A run may not carry `approval_tools` / `auto_approved_commands` of its own,
because HITL re-evaluates the policy when a run resumes, and a resume under
another policy would skip the reviewer's answer or misalign the decisions.

A run, assistant or cron may name a `sandbox_image` only from the administrator's
allow-list (`SandboxSettings.image_allowed`): refused here with a 422 before
anything is stored, so the request never reaches Docker. The sandbox refuses the
same images again (`sandbox.containers.docker_api.ImageGate`), whatever path a run took.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph_sdk import Auth

from agent.approval_policy import ApprovalPolicy
from agent.decisions import Decision, DecisionError, check_resume
from agent.policy.layers import ASSISTANT_KEY, USER_KEY
from agent.policy.rules import RuleError, parse_rules
from config.mcp import MCP_SERVERS_KEY, enabled_mcp_servers
from config.sandbox import SandboxSettings
from sandbox.coordination.process_state import sandbox_process
from server.engine import StoredThread, ThreadReader, has_checkpoint, read_thread

POLICY_KEYS = ("approval_tools", "auto_approved_commands", ASSISTANT_KEY, MCP_SERVERS_KEY)
"""Context keys that only an assistant may set."""


def _refuse(status: int, message: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=status, detail=message)


def refuse_bad_policy(context: object) -> None:
    """An assistant's context must hold a valid approval policy (else 422 at create/update time)."""
    try:
        ApprovalPolicy.from_context(context or {})
    except (TypeError, ValueError) as exc:
        raise _refuse(422, f"invalid approval policy: {exc}") from None
    try:
        enabled_mcp_servers(context or {})
    except ValueError as exc:
        raise _refuse(422, f"invalid MCP server list: {exc}") from None
    refuse_bad_rules(context)


def refuse_bad_rules(context: object) -> None:
    """Permission rules in a context (an assistant's `policy_rules`, a run's `user_rules`) must be well formed (else 422)."""
    if not isinstance(context, Mapping):
        return
    for key in (ASSISTANT_KEY, USER_KEY):
        try:
            parse_rules(context.get(key), key)
        except RuleError as exc:
            raise _refuse(422, f"invalid permission rules: {exc}") from None


def refuse_run_level_policy(kwargs: Mapping[str, Any]) -> None:
    """Approval policy keys are set on an assistant, never per run."""
    context = kwargs.get("context") or {}
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    for source in (context, configurable):
        if isinstance(source, Mapping) and (keys := sorted(k for k in POLICY_KEYS if k in source)):
            msg = f"{', '.join(keys)} can only be set on an assistant (its context), not on a run"
            raise _refuse(422, msg)


IMAGE_KEY = "sandbox_image"
"""The context key that picks a run's image (`agent.context.AgentContext`)."""


def _sandbox_settings() -> SandboxSettings:
    return sandbox_process().settings


def refuse_disallowed_image(*sources: object) -> None:
    """422 for a `sandbox_image` that is not `SANDBOX_IMAGE` or in `SANDBOX_ALLOWED_IMAGES`.

    Each source is a request body part with `context` and/or `config` (its
    `configurable` becomes a run's context when no context is given).
    """
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        config = source.get("config")
        for part in (source.get("context"), config.get("configurable") if isinstance(config, Mapping) else None):
            if not isinstance(part, Mapping) or part.get(IMAGE_KEY) is None:
                continue
            image = part[IMAGE_KEY]
            if not isinstance(image, str) or not _sandbox_settings().image_allowed(image):
                msg = (
                    f"{IMAGE_KEY} {image!r} is not allowed: a run may use SANDBOX_IMAGE or an image "
                    "an administrator lists in SANDBOX_ALLOWED_IMAGES; nothing was pulled or run"
                )
                raise _refuse(422, msg)


@dataclass(frozen=True)
class RunRequest:
    """The parts of a run about to be created that these checks read, whichever server asks."""

    thread_id: str | None
    assistant_id: str | None
    """As the client named it (a graph id or an assistant id); None when the server picks the thread's own."""
    command: Mapping[str, Any] | None
    config: Mapping[str, Any]
    context: Mapping[str, Any]
    checkpoint_id: str | None = None
    """The top-level checkpoint the run starts from (a fork or time travel), or None for the thread's head."""

    @property
    def resume(self) -> Any:
        """The answer this run resumes the thread with, or None."""
        return self.command.get("resume") if self.command else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


STATE_COMMAND_KEYS = ("update", "goto")
"""Command fields that write the graph's state or choose its next node: never a client's to send.

Either one reaches the tools node without passing the approval step (a jump, or
a forged tool call), so a run that carries one is refused, whatever else it holds."""


def refuse_state_command(command: Mapping[str, Any] | None) -> None:
    """A run's command may only answer an approval (`resume`); 422 for `update` or `goto`."""
    if command and (keys := [k for k in STATE_COMMAND_KEYS if command.get(k) is not None]):
        msg = (
            f"command.{' and command.'.join(keys)} refused, nothing was run: a client answers an approval with "
            "command.resume and starts a turn with input; the agent's state and next step are the server's"
        )
        raise _refuse(422, msg)


def _v2_command(method: object, params: Mapping[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """The command a v2 body would run (its resume, `update`, `goto`), and whether it only resumes a paused thread."""
    resume, only_if_paused = _v2_resume(method, params)
    command = {k: params[k] for k in STATE_COMMAND_KEYS if params.get(k) is not None}
    if resume is not None:
        command["resume"] = resume
    return command or None, only_if_paused


def _v2_resume(method: object, params: Mapping[str, Any]) -> tuple[Any, bool]:
    """`(resume, only_if_paused)` of a v2 command body: `input.respond` always resumes; `run.start` input may."""
    if method == "input.respond":
        responses = params.get("responses")
        if isinstance(responses, list):
            return {str(_mapping(r).get("interrupt_id")): _mapping(r).get("response") for r in responses}, False
        if params.get("interrupt_id") is not None:
            return {str(params["interrupt_id"]): params.get("response")}, False
        return params.get("response"), False
    return params.get("input"), True


def run_request(value: Mapping[str, Any]) -> tuple[RunRequest, bool]:
    """Read the `threads.create_run` handler's value, in the shape each server passes it.

    langgraph_api passes `Auth.types.RunsCreate` (the run's parameters under
    `kwargs`); Aegra passes the request body with the path's `thread_id`: a
    `RunCreate` for `/runs`, or a v2 command (`{method, params}`) for
    `/threads/{id}/commands`. The second value says whether a resume in the
    result is only a possibility: on Aegra, `run.start` input given to a thread
    that waits on an interrupt is taken as the answer to it.
    """
    thread_id = str(value["thread_id"]) if value.get("thread_id") is not None else None
    if isinstance(kwargs := value.get("kwargs"), Mapping):
        body: Mapping[str, Any] = kwargs
    elif "method" in value:
        params = _mapping(value.get("params"))
        command, only_if_paused = _v2_command(value.get("method"), params)
        assistant_id = params.get("assistant_id")
        config, context = _mapping(params.get("config")), _mapping(params.get("context"))
        checkpoint = _start_checkpoint(params, config)
        return RunRequest(thread_id, str(assistant_id) if assistant_id else None, command, config, context, checkpoint), only_if_paused
    else:
        body = value
    assistant_id = value.get("assistant_id")
    command = body.get("command")
    config = _mapping(body.get("config"))
    request = RunRequest(
        thread_id,
        str(assistant_id) if assistant_id else None,
        command if isinstance(command, Mapping) else None,
        config,
        _mapping(body.get("context")),
        _start_checkpoint(body, config),
    )
    return request, False


def _start_checkpoint(body: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """The top-level checkpoint a run starts from, in every spelling the servers accept.

    langgraph_api folds `checkpoint_id` into `config.configurable` before its
    handler runs; Aegra passes the body, where `checkpoint` (a dict) wins over
    `checkpoint_id`. A checkpoint inside a subgraph (`checkpoint_ns`) is not checked here.
    """
    checkpoint = _mapping(body.get("checkpoint"))
    configurable = _mapping(config.get("configurable"))
    for source in (checkpoint, body, configurable):
        if source.get("checkpoint_ns"):
            return None
        if (found := source.get("checkpoint_id")) is not None:
            return str(found)
    return None


GRAPH_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
"""Both servers derive a graph's built-in assistant id in it (langgraph_api's `NAMESPACE_GRAPH`, Aegra's `ASSISTANT_NAMESPACE_UUID`)."""


def same_assistant(requested: str, stored: str) -> bool:
    """Whether a run's assistant (a graph id or an assistant id) is the assistant a thread's metadata names.

    Both servers derive a graph's built-in assistant as `uuid5(namespace, graph_id)`
    with the same namespace; langgraph_api resolves the name before its handler
    runs, Aegra after, so both spellings are accepted.
    """
    return stored in {requested, str(uuid.uuid5(GRAPH_ASSISTANT_NAMESPACE, requested))}


ThreadFilter = Callable[[StoredThread], bool]
"""Whether the caller may see a thread (ownership); a thread they may not see is not checked here."""


def _everyone(_thread: StoredThread) -> bool:
    return True


async def refuse_bad_resume(
    value: Mapping[str, Any], may_see: ThreadFilter = _everyone, read: ThreadReader | None = None
) -> list[Decision]:
    """Check a run about to be created; raise a 4xx for a malformed resume, a run-level policy or a disallowed image.

    A thread that is missing, or that `may_see` says is not the caller's, is
    neither checked nor revealed here: the server's ownership filter answers 404
    as for any other request. `read` reads the thread (`read_thread` unless the
    caller shares one read among its checks).

    Returns the validated decisions (empty when the run resumes nothing).
    """
    request, only_if_paused = run_request(value)
    refuse_run_level_policy({"context": request.context, "config": request.config})
    refuse_bad_rules(request.context)
    refuse_bad_rules(request.config.get("configurable"))  # a run's context when it gives none
    refuse_state_command(request.command)
    refuse_disallowed_image({"context": request.context, "config": request.config})
    if request.resume is None and request.checkpoint_id is None:
        return []
    if request.thread_id is None:
        raise _refuse(400, "a resume or a start from a checkpoint needs a thread")
    thread = await (read or read_thread)(request.thread_id)
    if thread is None or not may_see(thread):
        return []  # not found, or not the caller's: the server answers 404 as for any other request
    if request.checkpoint_id is not None and not await has_checkpoint(thread, request.checkpoint_id):
        msg = f"run refused, nothing was run: thread {request.thread_id} has no checkpoint {request.checkpoint_id}"
        raise _refuse(404, msg)
    if request.resume is None:
        return []
    if only_if_paused and not thread.pending:
        return []  # a new turn, not an answer
    paused_by = thread.metadata.get("assistant_id")
    if paused_by and request.assistant_id and not same_assistant(request.assistant_id, str(paused_by)):
        # HITL re-evaluates the policy on resume: another assistant's policy could skip the answer.
        msg = f"resume refused, nothing was run: resume with the assistant that paused this thread ({paused_by})"
        raise _refuse(409, msg)
    try:
        return check_resume(request.resume, thread.pending)
    except DecisionError as exc:
        raise _refuse(exc.status, f"resume refused, nothing was run: {exc}") from None
