"""The changed files and diffs between two snapshots of a real thread store (`sandbox.snapshots.changes`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox.disks.workspace import prepare_workspace
from sandbox.snapshots.changes import Limits
from sandbox.snapshots.store import SnapshotMissingError
from sandbox.snapshots.thread_snapshots import WorkspaceSnapshots

USER = "changes-user"


def workspace(settings: SandboxSettings, thread_id: str) -> Path:
    return prepare_workspace(settings, thread_id, create=True, user_id=USER)


def by_path(answer: dict) -> dict:
    return {item["path"]: item for item in answer["files"]}


def test_added_modified_deleted_with_diffs(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-changes")
    (ws / "keep.txt").write_text("same\n")
    (ws / "gone.txt").write_text("bye\n")
    (ws / "edit.txt").write_text("one\ntwo\n")
    snaps.ensure_root(USER, "t-changes")
    (ws / "gone.txt").unlink()
    (ws / "edit.txt").write_text("one\nTWO\n")
    (ws / "src").mkdir()
    (ws / "src" / "new.py").write_text("print('hi')")
    (ws / "blob.bin").write_bytes(b"\x00\x01\x02")
    after = snaps.record(USER, "t-changes")

    answer = snaps.changes(USER, "t-changes", None, after)
    files = by_path(answer)
    assert sorted(files) == ["blob.bin", "edit.txt", "gone.txt", "src/new.py"]
    assert answer["total"] == 4
    assert answer["truncated"] is False
    assert files["edit.txt"]["status"] == "modified"
    assert "-two\n+TWO\n" in files["edit.txt"]["diff"]
    assert files["edit.txt"]["diff"].startswith("--- a/edit.txt\n+++ b/edit.txt\n")
    assert files["gone.txt"]["status"] == "deleted"
    assert "-bye\n" in files["gone.txt"]["diff"]
    assert files["src/new.py"]["status"] == "added"
    assert "+print('hi')\n\\ No newline at end of file\n" in files["src/new.py"]["diff"]
    assert files["blob.bin"]["diff"] is None
    assert files["blob.bin"]["no_diff"] == "binary"

    # Backwards, the same files with the opposite statuses.
    back = by_path(snaps.changes(USER, "t-changes", after, None))
    assert back["gone.txt"]["status"] == "added"
    assert back["src/new.py"]["status"] == "deleted"
    assert snaps.changes(USER, "t-changes", after, after)["files"] == []


def test_answers_are_bounded_and_say_so(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-bounds")
    snaps.ensure_root(USER, "t-bounds")
    for index in range(5):
        (ws / f"f{index}.txt").write_text("".join(f"line {n}\n" for n in range(50)))
    (ws / "big.txt").write_text("x" * 5000)
    after = snaps.record(USER, "t-bounds")

    limits = Limits(max_files=4, max_diff_source=4096, max_diff_chars=100, max_total_diff_chars=250)
    answer = snaps.changes(USER, "t-bounds", None, after, limits)
    assert answer["total"] == 6
    assert answer["truncated"] is True
    files = answer["files"]
    assert [item["path"] for item in files] == ["big.txt", "f0.txt", "f1.txt", "f2.txt"]
    assert files[0]["diff"] is None
    assert files[0]["no_diff"] == "too_large"
    assert files[1]["truncated"] is True
    assert len(files[1]["diff"]) == 100
    assert files[3]["truncated"] is True
    assert len(files[3]["diff"]) == 50
    assert all(item["path"] for item in files)


def test_budget_spent_lists_without_diff(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-budget")
    snaps.ensure_root(USER, "t-budget")
    for index in range(3):
        (ws / f"f{index}.txt").write_text("a\n" * 40)
    after = snaps.record(USER, "t-budget")
    answer = snaps.changes(USER, "t-budget", None, after, Limits(max_diff_chars=60, max_total_diff_chars=120))
    files = answer["files"]
    assert [item.get("no_diff") for item in files] == [None, None, "budget"]
    assert files[2]["diff"] is None


def test_unknown_snapshot_is_an_error_and_no_store_is_nothing(settings: SandboxSettings) -> None:
    snaps, ws = WorkspaceSnapshots(settings), workspace(settings, "t-missing")
    assert snaps.changes(USER, "t-missing", None, None) == {"files": [], "total": 0, "truncated": False}
    with pytest.raises(SnapshotMissingError):
        snaps.changes(USER, "t-missing", None, "0000000009-0123456789abcdef")
    (ws / "a.txt").write_text("a\n")
    snaps.record(USER, "t-missing")
    with pytest.raises(SnapshotMissingError):
        snaps.changes(USER, "t-missing", "0000000009-0123456789abcdef", None)
