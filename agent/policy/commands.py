"""`execute` command patterns: which commands a rule's `commands` entry matches.

A pattern is words (`git push`, `rm -rf`, `npm run *`): a command matches when
its words start with the pattern's words, each compared as a shell glob
(`fnmatch`), the way the read-only allow-list always matched. What differs is
where the words are looked for, by the rule's mode:

- `ask` / `deny` (stricter): in every simple command of the line. The line is
  cut at `;`, `&`, `|`, newlines, `$(`, backticks and parentheses, and leading
  `VAR=value` assignments are skipped, so `ls && git push`, `echo $(git push)`
  and `FOO=1 git push` are all caught.
- `allow` (looser): only a plain command (no shell metacharacter at all) that
  starts with the pattern, so `ls; rm -rf x` never rides on an allowed `ls`.

This is a convenience, not a parser of the shell: `sh -c 'git push'`, an alias
or a script still run whatever they contain. The sandbox stays the boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from agent.approval_policy import SHELL_METACHARACTERS

_SEGMENT_BREAKS = re.compile(r"\$\(|[;&|\n\r`()]")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _words_match(words: list[str], pattern: str) -> bool:
    wanted = pattern.split()
    return bool(wanted) and len(words) >= len(wanted) and all(fnmatchcase(w, p) for w, p in zip(words, wanted, strict=False))


def simple_commands(command: str) -> list[list[str]]:
    """The words of each simple command in a line, assignments in front of it dropped."""
    segments = []
    for segment in _SEGMENT_BREAKS.split(command):
        words = [w.strip("'\"") for w in segment.split()]
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words:
            segments.append(words)
    return segments


def matches_anywhere(command: str, patterns: Iterable[str]) -> bool:
    """Whether any simple command of the line starts with one of `patterns` (for ask and deny rules)."""
    segments = [*simple_commands(command), command.split()]  # the whole line too: whatever an allow would see
    return any(_words_match(words, pattern) for words in segments for pattern in patterns)


def matches_plainly(command: str, patterns: Iterable[str]) -> bool:
    """Whether the whole line is one plain command starting with one of `patterns` (for allow rules)."""
    if any(char in command for char in SHELL_METACHARACTERS):
        return False
    words = command.split()
    return any(_words_match(words, pattern) for pattern in patterns)
