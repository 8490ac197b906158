"""Which tool calls pause for a human, per LangGraph assistant.

The promise to users is that nothing changes a workspace or runs code without a
human's approval. Every tool that can do either is gated by default
(`GATED_BY_DEFAULT`); the read-only file tools are not (`READ_ONLY_TOOLS`).
An assistant may change this through its context (`AgentContext`):

- `approval_tools`: the tools that pause (default: `GATED_BY_DEFAULT`);
- `auto_approved_commands`: read-only commands (`ls`, `cat`, `git status`, ...)
  that `execute` runs without asking. A command matches an entry when its
  words start with the entry's words and it contains no shell metacharacter,
  so `ls; rm -rf x` never rides on `ls`.

The policy is convenience, not security: whatever it lets through still runs in
the thread's sandbox, which stays the security boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import InterruptOnConfig
from langchain.agents.middleware.types import ToolCallRequest

from config.mcp import server_of

GATED_BY_DEFAULT: tuple[str, ...] = ("execute", "write_file", "edit_file", "delete", "start_process", "send_input")
"""Tools that change files or run code: they pause unless an assistant says otherwise."""

COMMAND_TOOLS: tuple[str, ...] = ("execute", "start_process")
"""Tools that run a shell command: the same allow-list (`auto_approved_commands`) applies to both."""

PROCESS_CONTROL_TOOLS: tuple[str, ...] = ("list_processes", "process_output", "stop_process")
"""Background-process tools that run nothing new (look, or end what an approved call started): not gated by default."""

READ_ONLY_TOOLS: tuple[str, ...] = ("ls", "read_file", "glob", "grep")
"""Tools that only read: they never pause by default."""

STATE_ONLY_TOOLS: tuple[str, ...] = ("write_todos",)
"""Tools whose only effect is an update of the graph's own state (the plan, by LangChain's
`TodoListMiddleware`): nothing reaches a workspace or runs, so they never pause and no
policy can gate them. The gating guard checks that each one returns only a state update."""

SUBAGENT_TOOL = "task"
"""Starts a subagent whose own tools are gated by the same policy, so it is not gated itself."""

GATEABLE_TOOLS: tuple[str, ...] = (*GATED_BY_DEFAULT, *READ_ONLY_TOOLS, *PROCESS_CONTROL_TOOLS, SUBAGENT_TOOL)
"""Every tool a policy may name."""

DECISIONS: list[Any] = ["approve", "edit", "reject", "respond"]
"""What a reviewer may answer for every gated tool."""

SHELL_METACHARACTERS: tuple[str, ...] = (";", "&", "|", "$(", "`", "<", ">", "\n", "\r")
"""A command containing any of these never matches the allow-list: it could chain,
substitute or redirect into something that is not read-only."""


def command_is_auto_approved(command: str, allowed: Iterable[str]) -> bool:
    """Whether `command` is one of the `allowed` read-only commands (possibly with arguments)."""
    if any(char in command for char in SHELL_METACHARACTERS):
        return False
    words = command.split()
    if not words:
        return False
    for entry in allowed:
        prefix = entry.split()
        if prefix and words[: len(prefix)] == prefix:
            return True
    return False


def _names(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"{field} must be a list of strings, got {type(value).__name__}"
        raise TypeError(msg)
    names = tuple(value)
    if not all(isinstance(name, str) and name.strip() for name in names):
        msg = f"{field} must be a list of non-empty strings, got {names!r}"
        raise TypeError(msg)
    return names


@dataclass(frozen=True)
class ApprovalPolicy:
    """The tools that pause, and the `execute` commands that do not need to."""

    approval_tools: tuple[str, ...] = GATED_BY_DEFAULT
    auto_approved_commands: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse names the agent does not have, and metacharacters in allow-list entries."""
        unknown = sorted(set(_names(self.approval_tools, "approval_tools")) - set(GATEABLE_TOOLS))
        if unknown:
            msg = f"approval_tools names unknown tools {unknown}; known tools: {list(GATEABLE_TOOLS)}"
            raise ValueError(msg)
        for entry in _names(self.auto_approved_commands, "auto_approved_commands"):
            if any(char in entry for char in SHELL_METACHARACTERS):
                msg = f"auto_approved_commands entry {entry!r} contains a shell metacharacter; list plain read-only commands"
                raise ValueError(msg)

    @classmethod
    def from_context(cls, context: object) -> ApprovalPolicy:
        """The policy an assistant's context sets (defaults where it says nothing)."""
        if isinstance(context, Mapping):
            tools, commands = context.get("approval_tools"), context.get("auto_approved_commands")
        else:
            tools, commands = getattr(context, "approval_tools", None), getattr(context, "auto_approved_commands", None)
        return cls(
            approval_tools=GATED_BY_DEFAULT if tools is None else tuple(_names(tools, "approval_tools")),
            auto_approved_commands=() if commands is None else tuple(_names(commands, "auto_approved_commands")),
        )

    def needs_approval(self, tool_name: str, args: Mapping[str, Any]) -> bool:
        """Whether this call pauses for a reviewer: an MCP tool always does, unless a permission rule allows it."""
        if server_of(tool_name) is not None:
            return True
        if tool_name not in self.approval_tools:
            return False
        if tool_name in COMMAND_TOOLS and self.auto_approved_commands:
            command = args.get("command")
            return not (isinstance(command, str) and command_is_auto_approved(command, self.auto_approved_commands))
        return True


def needs_approval(request: ToolCallRequest) -> bool:
    """`InterruptOnConfig.when`: ask the run's policy about this call.

    HITL calls it again when a run resumes, so it depends only on the call and
    the assistant's context, never on time or files.
    """
    policy = ApprovalPolicy.from_context(request.runtime.context)
    call = request.tool_call
    return policy.needs_approval(call["name"], call.get("args") or {})


Describe = Callable[..., str]
"""`InterruptOnConfig.description` callable: `(tool_call, state, runtime) -> str`."""


class ToolGates(dict[str, Any]):
    """HITL's `interrupt_on`, which also answers for the tools of the configured MCP servers (`<server>__<tool>`).

    Those tools are known only once their servers run (`agent.mcp_tools`), so they cannot be
    keys; HITL and the gate look a tool up with `get` or `[]`, which find them by their server.
    """

    def __init__(self, named: Mapping[str, Any], mcp_servers: frozenset[str] = frozenset(), mcp: Any = None) -> None:
        super().__init__(named)
        self.mcp_servers = mcp_servers
        self.mcp = mcp

    def get(self, key: str, default: Any = None) -> Any:
        """The named tool's configuration, else the MCP one for a configured server's tool, else `default`."""
        found = super().get(key)
        if found is None and self.mcp is not None and server_of(key) in self.mcp_servers:
            return self.mcp
        return default if found is None else found

    def __getitem__(self, key: str) -> Any:
        """As `get`, raising `KeyError` for a tool that is neither named nor a configured server's."""
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        """Whether `get` finds a configuration for `key`."""
        return isinstance(key, str) and self.get(key) is not None

    def widened(self, resolved: Mapping[str, Any]) -> ToolGates:
        """`resolved` (HITL's copy of the named configurations) with the same MCP answer."""
        return ToolGates(resolved, self.mcp_servers, self.mcp)


def interrupt_on(
    describe: Describe, when: Callable[[ToolCallRequest], bool] = needs_approval, mcp_servers: frozenset[str] = frozenset()
) -> ToolGates:
    """HITL configuration: every gateable tool and the MCP servers' tools, paused when `when` says so (served: `agent.policy`)."""

    def config() -> InterruptOnConfig:
        return InterruptOnConfig(allowed_decisions=list(DECISIONS), description=describe, when=when)

    return ToolGates({name: config() for name in GATEABLE_TOOLS}, mcp_servers, config() if mcp_servers else None)
