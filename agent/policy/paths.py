"""The facts of a tool call, with its paths spelled every way a rule must see them.

A rule on `/workspace/.env` must not be walked around by `./.env`,
`/workspace/src/../.env`, `//workspace/.env` or a symlink `/workspace/e -> .env`.
So each path a call names is matched in every spelling (`CallFacts.paths`):

- lexically: made absolute as the file tools read a relative path (under
  `/workspace`) and normalised (`.`, `..`, repeated slashes);
- resolved: walked by the very walk the file tools use
  (`HostFiles.canonical_path`: symlinks inside the sandbox's roots followed, `..`
  bounded by the roots), when the backend has host files to walk.

A stricter rule matching any spelling applies; an allow rule must match all.
Resolution reads the disk, so it runs off the event loop (`agent.policy.middleware`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from agent.approval_policy import COMMAND_TOOLS
from agent.policy.matching import CallFacts
from agent.policy.rules import WORKSPACE

Resolve = Callable[[str, bool], tuple[str, bool] | None]
"""`(absolute path, follow the last symlink) -> (resolved container path, an existing directory is there)`,
or None when it cannot be resolved."""

PATH_ARGUMENTS: Mapping[str, tuple[str, str | None]] = {
    "read_file": ("file_path", None),
    "write_file": ("file_path", None),
    "edit_file": ("file_path", None),
    "delete": ("file_path", None),
    "ls": ("path", "/"),
    "glob": ("path", "/"),
    "grep": ("path", "/"),
}
"""Each file tool's path argument, and what it means when the call leaves it out."""


def lexical(path: str) -> str:
    """`x`, `./x`, `/workspace//x` and `/workspace/a/../x` all spell `/workspace/x`."""
    absolute = path if path.startswith("/") else f"{WORKSPACE}/{path}"
    normal = posixpath.normpath(absolute)
    return "/" + normal.lstrip("/")


def spellings(path: str, resolve: Resolve | None, *, follow_last: bool = True) -> tuple[tuple[str, ...], bool | None]:
    """The lexical form of `path` and, with `resolve`, where the file tools' walk lands.

    Also whether an existing directory is there (None: not known).
    """
    forms = [lexical(path)]
    is_dir = None
    if resolve is not None and (resolved := resolve(forms[0], follow_last)) is not None:
        forms.append(lexical(resolved[0]))
        is_dir = resolved[1]
    return tuple(dict.fromkeys(forms)), is_dir


def call_facts(name: str, args: Mapping[str, Any], resolve: Resolve | None = None) -> CallFacts:
    """What rules look at in the call `name(**args)`.

    `execute` and `start_process` run their command in `/workspace`, so path
    rules about them match its working directory, and command rules their command. A path argument that is not text is matched as `/`, so
    that nothing malformed slips under every path rule.
    """
    if name in COMMAND_TOOLS:
        command = args.get("command")
        return CallFacts(tool=name, paths=(WORKSPACE,), command=command if isinstance(command, str) else "")
    if name in PATH_ARGUMENTS:
        key, default = PATH_ARGUMENTS[name]
        raw = args.get(key, default)
        path = raw if isinstance(raw, str) and raw and "\x00" not in raw else "/"
        # `delete` removes a symlink itself, never its target: resolve all but the last component.
        paths, is_dir = spellings(path, resolve, follow_last=name != "delete")
        # `grep` reads the whole tree below its path; `delete` removes it, unless it is known not to be a directory.
        return CallFacts(tool=name, paths=paths, tree=name == "grep" or (name == "delete" and is_dir is not False))
    return CallFacts(tool=name)
