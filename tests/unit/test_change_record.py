"""The change a file tool call made, as the transcript shows it."""

from __future__ import annotations

from langchain_core.messages import ToolMessage

from agent.change_record import _with_artifact, change_artifact


def test_a_new_file_is_all_added_lines_and_an_edit_is_a_minus_and_a_plus() -> None:
    created = change_artifact("/workspace/a.txt", None, "one\ntwo\n")
    assert created is not None
    assert created["file_change"]["added"] == 2
    assert "+one\n+two\n" in created["file_change"]["diff"]
    edited = change_artifact("/workspace/a.txt", "one\ntwo\n", "one\ndeux\n")
    assert edited is not None
    assert "-two\n+deux\n" in edited["file_change"]["diff"]
    assert (edited["file_change"]["added"], edited["file_change"]["removed"]) == (1, 1)


def test_no_change_and_failed_calls_get_no_record() -> None:
    assert change_artifact("/workspace/a.txt", "same\n", "same\n") is None
    assert change_artifact("/workspace/a.txt", "x\n", None) is None
    record = change_artifact("/workspace/a.txt", None, "x\n")
    failed = ToolMessage(content="Error: no", tool_call_id="c1", status="error")
    assert _with_artifact(failed, record) is failed
    done = _with_artifact(ToolMessage(content="ok", tool_call_id="c1"), record)
    assert isinstance(done, ToolMessage)
    assert done.artifact == record
