"""What changed in a thread's workspace between two of its snapshots: paths and unified diffs.

The web client shows, under each turn, the files the turn added, modified or
deleted and how. Both sides are manifests already in the thread's store
(`sandbox.snapshots.store`), so nothing is read from the live workspace: the
answer is what the checkpoints recorded, even after a rewind. Answers are
bounded (file count, bytes per file, bytes per diff, bytes in all) and say when
they were cut; binary and too-large files are listed without a diff. All of it
is blocking file work: callers on the event loop run it in a worker thread.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from sandbox.snapshots.manifest import Manifest
from sandbox.snapshots.store import SnapshotStore

MAX_FILES = 200
"""Changed paths listed at most; the rest is counted, not listed."""
MAX_DIFF_SOURCE = 256 * 1024
"""A side larger than this is listed without a diff (diffing it would cost too much)."""
MAX_DIFF_CHARS = 32 * 1024
"""One file's diff is cut at this length."""
MAX_TOTAL_DIFF_CHARS = 256 * 1024
"""All diffs together stop here; later files are listed without one."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one answer (tests make them small)."""

    max_files: int = MAX_FILES
    max_diff_source: int = MAX_DIFF_SOURCE
    max_diff_chars: int = MAX_DIFF_CHARS
    max_total_diff_chars: int = MAX_TOTAL_DIFF_CHARS


def _entries(manifest: Manifest) -> dict[str, tuple[str, str, int]]:
    """Path -> (kind, identity, size): a file by content hash and mode, a link by its target."""
    table: dict[str, tuple[str, str, int]] = {}
    for path, entry in manifest.files.items():
        table[path] = ("file", f"{entry[0]}:{entry[1]:o}", entry[2])
    for path, target in manifest.links.items():
        table[path] = ("link", target, len(target))
    return table


def _text(store: SnapshotStore, kind: str, identity: str) -> str | None:
    """The side's text, or None when it is binary (a link reads as its target)."""
    if kind == "link":
        return f"-> {identity}\n"
    data = store.read_blob(identity.split(":", 1)[0])
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _diff(
    store: SnapshotStore, path: str, old: tuple[str, str, int] | None, new: tuple[str, str, int] | None, limits: Limits
) -> tuple[str | None, str | None]:
    """(diff, why there is none)."""
    sides = [side for side in (old, new) if side is not None]
    if any(side[2] > limits.max_diff_source for side in sides):
        return None, "too_large"
    texts = []
    for side in (old, new):
        text = "" if side is None else _text(store, side[0], side[1])
        if text is None:
            return None, "binary"
        texts.append(text)
    lines = difflib.unified_diff(
        texts[0].splitlines(keepends=True),
        texts[1].splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{path}",
        tofile="/dev/null" if new is None else f"b/{path}",
    )
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    if not body and old is not None and new is not None:
        return "", "mode_only"
    return body, None


def compute_changes(store: SnapshotStore, before: Manifest, after: Manifest, limits: Limits | None = None) -> dict[str, Any]:
    """The changed paths from `before` to `after` (folders left out: a file in one is listed) with their diffs."""
    limits = limits or Limits()
    old, new = _entries(before), _entries(after)
    paths = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    listed: list[dict[str, Any]] = []
    budget = limits.max_total_diff_chars
    for path in paths[: limits.max_files]:
        was, now = old.get(path), new.get(path)
        status = "added" if was is None else "deleted" if now is None else "modified"
        item: dict[str, Any] = {"path": path, "status": status, "kind": (now or was or ("file",))[0], "diff": None, "truncated": False}
        if budget <= 0:
            item["no_diff"] = "budget"
        else:
            diff, why = _diff(store, path, was, now, limits)
            if why is not None:
                item["no_diff"] = why
            if diff is not None:
                cap = min(limits.max_diff_chars, budget)
                item["truncated"] = len(diff) > cap
                item["diff"] = diff[:cap]
                budget -= len(item["diff"])
        listed.append(item)
    return {"files": listed, "total": len(paths), "truncated": len(paths) > len(listed)}
