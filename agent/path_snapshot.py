"""What a path held when the model asked to change it, and the diff a change would make.

Shared by the reviewer's description (`agent.approval_descriptions`), its
structured twin (`agent.approval_details`) and the record of applied changes
(`agent.change_record`), so all three show the same diff.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from deepagents.backends.protocol import FileDownloadResponse

MAX_DESCRIPTION_CHARS = 20_000
"""Longer diffs are cut (with a note): a description travels in every state read."""

MAX_DIFF_INPUT_BYTES = 1_000_000
"""Files larger than this are summarised instead of diffed (difflib is quadratic at worst)."""

Kind = Literal["file", "directory", "missing", "unreadable"]


@dataclass(frozen=True)
class PathSnapshot:
    """What a path held when the model asked to change it."""

    kind: Kind
    text: str | None = None
    """The file's text (None for binary or non-files)."""
    size: int = 0
    problem: str = ""
    """Why it could not be read (kind `unreadable`)."""


def snapshot_of(response: FileDownloadResponse) -> PathSnapshot:
    """Classify one `download_files` answer."""
    if response.content is not None:
        try:
            return PathSnapshot("file", response.content.decode("utf-8"), len(response.content))
        except UnicodeDecodeError:
            return PathSnapshot("file", None, len(response.content))
    if response.error == "is_directory":
        return PathSnapshot("directory")
    if response.error == "file_not_found":
        return PathSnapshot("missing")
    return PathSnapshot("unreadable", problem=str(response.error))


def unified_diff(path: str, old: str | None, new: str) -> tuple[str, int, int]:
    """A unified diff (`/dev/null` as the old side of a new file) and its +/- line counts."""
    if len(old or "") + len(new) > MAX_DIFF_INPUT_BYTES:
        old_lines, new_lines = len((old or "").splitlines()), len(new.splitlines())
        return f"(too large to diff here: {old_lines} lines before, {new_lines} after)\n", new_lines, old_lines
    lines = list(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile="/dev/null" if old is None else f"a{path}",
            tofile=f"b{path}",
        )
    )
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    text = "".join(line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines)
    return text, added, removed
