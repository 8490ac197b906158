"""Reviewer descriptions, built from what a path held (no server needed)."""

from __future__ import annotations

from deepagents.backends.protocol import FileDownloadResponse

from agent.approval_descriptions import (
    MAX_DESCRIPTION_CHARS,
    PathSnapshot,
    describe_delete,
    describe_edit,
    describe_execute,
    describe_write,
    snapshot_of,
)
from config.sandbox import SandboxSettings


def test_snapshots_classify_download_answers() -> None:
    assert snapshot_of(FileDownloadResponse(path="/w/a", content=b"hi\n")) == PathSnapshot("file", "hi\n", 3)
    assert snapshot_of(FileDownloadResponse(path="/w/a", content=b"\xff\x00")) == PathSnapshot("file", None, 2)
    assert snapshot_of(FileDownloadResponse(path="/w/d", error="is_directory")).kind == "directory"
    assert snapshot_of(FileDownloadResponse(path="/w/m", error="file_not_found")).kind == "missing"
    assert snapshot_of(FileDownloadResponse(path="/w/p", error="permission_denied")).problem == "permission_denied"


def test_write_new_file_overwrite_and_identical() -> None:
    new = describe_write("/workspace/a.txt", "one\ntwo", PathSnapshot("missing"))
    assert new.startswith("write_file /workspace/a.txt: new file, 2 lines\n\n--- /dev/null\n+++ b/workspace/a.txt\n")
    assert new.endswith("+one\n+two\n\\ No newline at end of file\n")
    same = describe_write("/workspace/a.txt", "x\n", PathSnapshot("file", "x\n", 2))
    assert same == "write_file /workspace/a.txt: overwrites the file with identical content"
    binary = describe_write("/workspace/a.bin", "x\n", PathSnapshot("file", None, 10))
    assert binary.startswith("write_file /workspace/a.bin: replaces a binary file (10 bytes) with 1 line")
    assert "current content not read" in describe_write("/workspace/a.txt", "x\n", None)


def test_long_diffs_are_cut_with_a_note() -> None:
    content = "".join(f"line {i}\n" for i in range(10_000))
    text = describe_write("/workspace/big.txt", content, PathSnapshot("missing"))
    assert len(text) < MAX_DESCRIPTION_CHARS + 200
    assert text.rstrip().endswith("more lines not shown)")


def test_edit_keeps_crlf_like_the_edit_tool() -> None:
    before = PathSnapshot("file", "a\r\nb\r\n", 6)
    text = describe_edit("/workspace/w.txt", "a\nb", "a\nc", replace_all=False, before=before)
    assert text.startswith("edit_file /workspace/w.txt: 1 replacement, +1 -1 lines"), text
    assert "-b\r\n+c\r\n" in text


def test_edit_failures_are_explained() -> None:
    ambiguous = describe_edit("/workspace/w.txt", "x", "y", replace_all=False, before=PathSnapshot("file", "x x\n", 4))
    assert "the edit will fail" in ambiguous
    assert "appears 2 times" in ambiguous
    assert "does not exist" in describe_edit("/workspace/n.txt", "x", "y", replace_all=False, before=PathSnapshot("missing"))


def test_delete_and_execute() -> None:
    assert describe_delete("/workspace/a", PathSnapshot("file", "abc", 3)) == "delete /workspace/a: a file of 3 bytes"
    assert "DIRECTORY" in describe_delete("/workspace/d", PathSnapshot("directory"))
    assert "will fail" in describe_delete("/workspace/m", PathSnapshot("missing"))
    settings = SandboxSettings(timeout_seconds=120, max_timeout_seconds=600)
    assert describe_execute("ls", None, settings).endswith("working directory: /workspace\ntimeout: 120 s (default)")
    assert describe_execute("ls", 30, settings).endswith("timeout: 30 s")
    assert describe_execute("ls", 0, settings).endswith("timeout: 0 s requested, runs with at most 600 s")
