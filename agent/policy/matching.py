"""Whether a rule matches a tool call: the call's facts, and deepagents' path matcher.

A call is reduced to `CallFacts` first: its tool, the file tools' `read` /
`write` class, the paths it touches (every spelling of each: as written, made
absolute and normalised, and as the file tools resolve it through symlinks; see
`agent.policy.paths`) and, for `execute`, its command. A rule matches when every
field it gives matches. Its paths match as deepagents' matcher does (wcmatch
with `**` and braces) plus `DOTGLOB`: deepagents' `*` and `**` skip names that
start with a dot, so a deny on `/workspace/secret/**` would not cover
`/workspace/secret/.env`. Here a glob means what a person reads.

Calls that reach a whole tree (`grep`, which reads every file below its path,
and `delete` of a directory, which removes everything below it) meet stricter rules (`ask`,
`deny`) whenever the rule could match something inside that tree (deepagents'
recursive-delete overlap check), not only the path named; a looser rule
(`allow`) must match the path itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import wcmatch.glob as wcglob
from deepagents.middleware.filesystem import FilesystemPermission, _find_delete_deny_patterns

from agent.policy.commands import matches_anywhere, matches_plainly
from agent.policy.rules import TOOL_OPERATIONS, Operation, Rule

GLOB_FLAGS = wcglob.BRACE | wcglob.GLOBSTAR | wcglob.DOTGLOB
"""deepagents' `_FS_WCMATCH_FLAGS`, plus dot files (see the module docstring)."""


@dataclass(frozen=True)
class CallFacts:
    """What rules look at in one tool call."""

    tool: str
    paths: tuple[str, ...] = ()
    """Every spelling of every path the call touches (see the module docstring); empty: none."""
    command: str | None = None
    tree: bool = False
    """The call reaches everything below its path (`grep`; `delete` of a directory, or of a path not known to be none)."""

    @property
    def operation(self) -> Operation | None:
        """`read` or `write` for the file tools, None for others."""
        return TOOL_OPERATIONS.get(self.tool)


def path_matches(patterns: Iterable[str], path: str) -> bool:
    """Whether `path` matches one of the glob `patterns`."""
    return any(wcglob.globmatch(path, pattern, flags=GLOB_FLAGS) for pattern in patterns)


def tree_may_match(patterns: Iterable[str], top: str) -> bool:
    """Whether one of `patterns` could match `top` or anything below it (deepagents' recursive-delete check)."""
    patterns = list(patterns)
    if path_matches(patterns, top):
        return True
    probe = FilesystemPermission(operations=["write"], paths=patterns, mode="deny")
    return bool(_find_delete_deny_patterns([probe], top, has_descendants=True))


def _paths_match(rule: Rule, facts: CallFacts) -> bool:
    if not rule.paths:
        return True
    if not facts.paths:
        return False
    if rule.mode != "allow" and facts.tree:
        return any(tree_may_match(rule.paths, path) for path in facts.paths)
    if rule.mode == "allow":  # every spelling must be allowed, or a symlink could carry a call past a stricter rule
        return all(path_matches(rule.paths, path) for path in facts.paths)
    return any(path_matches(rule.paths, path) for path in facts.paths)


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
    if not rule.names(facts.tool):
        return False
    if rule.operations and facts.operation not in rule.operations:
        return False
    return _paths_match(rule, facts) and _command_matches(rule, facts)


def first_match(rules: Iterable[Rule], facts: CallFacts) -> Rule | None:
    """The first rule of a layer that matches the call (deepagents' "first match wins"), or None."""
    return next((rule for rule in rules if rule_matches(rule, facts)), None)
