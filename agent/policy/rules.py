"""The shape of one permission rule, and how a list of them is read from JSON-like data.

A rule is deepagents' `FilesystemPermission` (operations, paths, mode; the
first matching rule of a list wins) widened to every tool: it may also name
tools and `execute` command patterns, and its modes are `allow`, `ask` and
`deny` (`interrupt` is accepted as deepagents' word for `ask`). Path patterns
are validated by `FilesystemPermission` itself; a relative pattern (`src/**`)
means the same under `/workspace` (`/workspace/src/**`), as the file tools read
a relative path.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from deepagents.middleware.filesystem import FilesystemPermission

from agent.approval_policy import COMMAND_TOOLS, GATEABLE_TOOLS, SHELL_METACHARACTERS
from config.mcp import TOOL_SEPARATOR, server_of

Mode = Literal["allow", "ask", "deny"]
"""What a rule decides for the calls it matches."""

SEVERITY: Mapping[Mode, int] = {"allow": 0, "ask": 1, "deny": 2}
"""Strictness order used to combine layers: the strictest decision wins."""

Operation = Literal["read", "write"]

TOOL_OPERATIONS: Mapping[str, Operation] = {
    "ls": "read",
    "read_file": "read",
    "glob": "read",
    "grep": "read",
    "write_file": "write",
    "edit_file": "write",
    "delete": "write",
}
"""deepagents' own classification of the file tools (`_DEFAULT_FS_TOOL_OPS`)."""

WORKSPACE = "/workspace"
RULE_KEYS = frozenset({"name", "tools", "operations", "paths", "commands", "mode"})
_MODES = {"allow": "allow", "ask": "ask", "interrupt": "ask", "deny": "deny"}


class RuleError(ValueError):
    """A malformed rule; the message names where it came from and what is wrong."""


def absolute_pattern(pattern: str) -> str:
    """`src/**` and `/workspace/src/**` are the same pattern; `./x` is `x`."""
    if pattern.startswith("/"):
        return pattern
    return posixpath.join(WORKSPACE, pattern.removeprefix("./"))


@dataclass(frozen=True)
class Rule:
    """One rule: which calls it matches (every field given must match) and what it decides."""

    mode: Mode
    tools: tuple[str, ...]
    """Tool names it applies to (never empty: defaults are filled in by `parse_rule`)."""
    operations: tuple[Operation, ...] = ()
    """Empty: any; else the file tools' `read` / `write` class must be one of them."""
    paths: tuple[str, ...] = ()
    """Absolute glob patterns (wcmatch, `**` and braces, deepagents' matcher); empty: any path."""
    commands: tuple[str, ...] = ()
    """Command patterns (`agent.policy.commands`) of the tools that run a shell command (`execute`, `start_process`); empty: any command."""
    label: str = ""
    """How a refusal or a reviewer names the rule: its `name`, or where it stands and what it says."""

    def summary(self) -> str:
        """`deny read on /workspace/.env`, `ask execute matching 'rm -rf'`: what the rule says, briefly."""
        what = " and ".join(self.operations) if self.operations else ("any tool" if self.tools == GATEABLE_TOOLS else ", ".join(self.tools))
        where = f" on {', '.join(self.paths)}" if self.paths else ""
        commands = f" matching {', '.join(repr(c) for c in self.commands)}" if self.commands else ""
        return f"{self.mode} {what}{where}{commands}"

    def names(self, tool: str) -> bool:
        """Whether the rule applies to `tool`: named, or an MCP tool named by `<server>__*` or covered by "every tool"."""
        if tool in self.tools:
            return True
        server = server_of(tool)
        return server is not None and (self.tools == GATEABLE_TOOLS or f"{server}{TOOL_SEPARATOR}*" in self.tools)

    def to_json(self) -> dict[str, object]:
        """The rule as a reviewer or a refusal shows it."""
        return {"rule": self.label, "mode": self.mode, "says": self.summary()}


def _strings(raw: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v.strip() for v in value):
        msg = f"{where}: {key} must be a list of non-empty strings, got {value!r}"
        raise RuleError(msg)
    return tuple(str(v).strip() for v in value)


def _tools(raw: Mapping[str, object], operations: tuple[Operation, ...], commands: tuple[str, ...], where: str) -> tuple[str, ...]:
    named = _strings(raw, "tools", where)
    if not named:
        if commands:
            return COMMAND_TOOLS
        if operations:
            return tuple(tool for tool, op in TOOL_OPERATIONS.items() if op in operations)
        return GATEABLE_TOOLS
    if "*" in named:
        return GATEABLE_TOOLS
    unknown = sorted(name for name in set(named) - set(GATEABLE_TOOLS) if server_of(name) is None)
    if unknown:
        known = f"{list(GATEABLE_TOOLS)}, MCP tools as '<server>__<tool>' or '<server>__*'"
        msg = f"{where}: unknown tools {unknown}; known tools: {known} (or '*')"
        raise RuleError(msg)
    if commands and not set(named) <= set(COMMAND_TOOLS):
        msg = f"{where}: commands only apply to {' and '.join(COMMAND_TOOLS)}; name those tools or leave tools out"
        raise RuleError(msg)
    return named


def parse_rule(raw: object, where: str) -> Rule:
    """One rule from its JSON/TOML form; `where` (`admin rule 2`) names it in errors and labels."""
    if not isinstance(raw, Mapping):
        msg = f"{where}: a rule is an object like {{'tools': ['execute'], 'commands': ['git push'], 'mode': 'deny'}}"
        raise RuleError(msg)
    unknown_keys = sorted(set(raw) - RULE_KEYS)
    if unknown_keys:
        msg = f"{where}: unknown keys {unknown_keys}; a rule has {sorted(RULE_KEYS)}"
        raise RuleError(msg)
    mode = _MODES.get(str(raw.get("mode", "")))
    if mode is None:
        msg = f"{where}: mode must be 'allow', 'ask' or 'deny' (or 'interrupt'), got {raw.get('mode')!r}"
        raise RuleError(msg)
    operations = _strings(raw, "operations", where)
    if bad := [op for op in operations if op not in ("read", "write")]:
        msg = f"{where}: operations are 'read' and 'write', got {bad}"
        raise RuleError(msg)
    ops = cast("tuple[Operation, ...]", operations)
    paths = tuple(absolute_pattern(p) for p in _strings(raw, "paths", where))
    try:
        FilesystemPermission(operations=list(ops or ("read", "write")), paths=list(paths), mode="deny")
    except (ValueError, NotImplementedError) as exc:
        msg = f"{where}: {exc}"
        raise RuleError(msg) from None
    commands = _strings(raw, "commands", where)
    if mode == "allow" and (bad := [c for c in commands if any(ch in c for ch in SHELL_METACHARACTERS)]):
        msg = f"{where}: allow command patterns may not contain shell metacharacters, got {bad}"
        raise RuleError(msg)
    tools = _tools(raw, ops, commands, where)
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        msg = f"{where}: name must be non-empty text"
        raise RuleError(msg)
    rule = Rule(mode=cast("Mode", mode), tools=tools, operations=ops, paths=paths, commands=commands)
    label = f"{where} '{name.strip()}'" if isinstance(name, str) else f"{where} ({rule.summary()})"
    return Rule(mode=rule.mode, tools=tools, operations=ops, paths=paths, commands=commands, label=label)


def parse_rules(raw: object, layer: str) -> tuple[Rule, ...]:
    """A layer's list of rules; `layer` (`admin`, `assistant`, `user`) starts every rule's label."""
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        msg = f"{layer} rules must be a list of rule objects, got {type(raw).__name__}"
        raise RuleError(msg)
    return tuple(parse_rule(item, f"{layer} rule {index}") for index, item in enumerate(raw, start=1))
