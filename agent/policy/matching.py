"""Whether a rule matches a tool call: the call's facts, and deepagents' path matcher.

A call is reduced to `CallFacts` first: its tool, the file tools' `read` /
`write` class, the paths it touches (every spelling of each: as written, made
absolute and normalised, and as the file tools resolve it through symlinks; see
`agent.policy.paths`) and, for `execute`, its command. A rule matches when every
field it gives matches. Its paths match through deepagents' own matcher
(`_check_fs_permission`, wcmatch with `**` and braces).

Calls that reach a whole tree (`grep`, which reads every file below its path,
and `delete`, which removes everything below it) meet stricter rules (`ask`,
`deny`) whenever the rule could match something inside that tree (deepagents'
recursive-delete overlap check), not only the path named; a looser rule
(`allow`) must match the path itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deepagents.middleware.filesystem import FilesystemPermission, _check_fs_permission, _find_delete_deny_patterns

from agent.policy.commands import matches_anywhere, matches_plainly
from agent.policy.rules import TOOL_OPERATIONS, Operation, Rule

TREE_TOOLS = frozenset({"grep", "delete"})
"""Tools whose effect reaches everything below their path."""


@dataclass(frozen=True)
class CallFacts:
    """What rules look at in one tool call."""

    tool: str
    paths: tuple[str, ...] = ()
    """Every spelling of every path the call touches (see the module docstring); empty: none."""
    command: str | None = None

    @property
    def operation(self) -> Operation | None:
        """`read` or `write` for the file tools, None for others."""
        return TOOL_OPERATIONS.get(self.tool)


def path_matches(patterns: Iterable[str], path: str, operation: Operation = "read") -> bool:
    """Whether `path` matches one of the glob `patterns`, by deepagents' matcher."""
    probe = FilesystemPermission(operations=[operation], paths=list(patterns), mode="deny")
    return _check_fs_permission([probe], operation, path) == "deny"


def tree_may_match(patterns: Iterable[str], top: str) -> bool:
    """Whether one of `patterns` could match `top` or anything below it (deepagents' recursive-delete check)."""
    probe = FilesystemPermission(operations=["write"], paths=list(patterns), mode="deny")
    return bool(_find_delete_deny_patterns([probe], top, has_descendants=True))


def _paths_match(rule: Rule, facts: CallFacts) -> bool:
    if not rule.paths:
        return True
    if not facts.paths:
        return False
    operation = facts.operation or "read"
    if rule.mode != "allow" and facts.tool in TREE_TOOLS:
        return any(tree_may_match(rule.paths, path) for path in facts.paths)
    if rule.mode == "allow":  # every spelling must be allowed, or a symlink could carry a call past a stricter rule
        return all(path_matches(rule.paths, path, operation) for path in facts.paths)
    return any(path_matches(rule.paths, path, operation) for path in facts.paths)


def _command_matches(rule: Rule, facts: CallFacts) -> bool:
    if not rule.commands:
        return True
    if facts.command is None:
        return False
    if rule.mode == "allow":
        return matches_plainly(facts.command, rule.commands)
    return matches_anywhere(facts.command, rule.commands)


def rule_matches(rule: Rule, facts: CallFacts) -> bool:
    """Whether every field `rule` gives matches the call."""
    if facts.tool not in rule.tools:
        return False
    if rule.operations and facts.operation not in rule.operations:
        return False
    return _paths_match(rule, facts) and _command_matches(rule, facts)


def first_match(rules: Iterable[Rule], facts: CallFacts) -> Rule | None:
    """The first rule of a layer that matches the call (deepagents' "first match wins"), or None."""
    return next((rule for rule in rules if rule_matches(rule, facts)), None)
