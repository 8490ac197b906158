"""The structured twin of the approval description: the same facts, as data."""

from __future__ import annotations

from agent.approval_descriptions import ApprovalPreviews
from agent.approval_details import details_of, timeout_details
from agent.path_snapshot import PathSnapshot
from config.sandbox import SandboxSettings


def _call(name: str, **args: object) -> dict[str, object]:
    return {"name": name, "args": args, "id": "call-1", "type": "tool_call"}


def test_write_states_follow_what_the_path_held() -> None:
    write = _call("write_file", file_path="/workspace/a.txt", content="x\ny\n")
    assert details_of(write, None, None) == {"tool": "write_file", "path": "/workspace/a.txt", "state": "unread", "lines": 2}  # type: ignore[arg-type]
    new = details_of(write, PathSnapshot("missing"), None)  # type: ignore[arg-type]
    assert (new["state"], new["added"], new["removed"]) == ("new", 2, 0)
    assert new["diff"].startswith("--- /dev/null\n+++ b/workspace/a.txt\n")
    same = details_of(write, PathSnapshot("file", "x\ny\n", 4), None)  # type: ignore[arg-type]
    assert (same["state"], same["diff"]) == ("identical", "")
    assert details_of(write, PathSnapshot("directory"), None)["state"] == "directory"  # type: ignore[arg-type]


def test_edit_and_delete_states() -> None:
    edit = _call("edit_file", file_path="/workspace/a.txt", old_string="y", new_string="z")
    ok = details_of(edit, PathSnapshot("file", "x\ny\n", 4), None)  # type: ignore[arg-type]
    assert (ok["state"], ok["replacements"], ok["added"], ok["removed"]) == ("ok", 1, 1, 1)
    assert details_of(edit, PathSnapshot("file", "x\n", 2), None)["state"] == "fails"  # type: ignore[arg-type]
    assert details_of(edit, PathSnapshot("missing"), None)["state"] == "missing"  # type: ignore[arg-type]
    delete = _call("delete", file_path="/workspace/a.txt")
    assert details_of(delete, PathSnapshot("file", None, 7), None) == {  # type: ignore[arg-type]
        "tool": "delete",
        "path": "/workspace/a.txt",
        "state": "file",
        "size": 7,
    }


def test_timeouts_name_the_requested_and_effective_seconds() -> None:
    settings = SandboxSettings(timeout_seconds=120, max_timeout_seconds=1800)
    assert timeout_details(None, settings) == {"requested": None, "effective": 120, "valid": True}
    assert timeout_details(99999, settings) == {"requested": 99999, "effective": 1800, "valid": True}
    assert timeout_details("soon", settings) == {"requested": "'soon'", "effective": None, "valid": False}
    assert timeout_details(True, settings)["valid"] is False
    assert timeout_details(30, None) == {"requested": 30, "effective": None, "valid": True}


def test_a_long_diff_is_cut_and_says_how_much_is_hidden() -> None:
    content = "".join(f"line {n}\n" for n in range(5000))
    details = details_of(_call("write_file", file_path="/workspace/big.txt", content=content), PathSnapshot("missing"), None)  # type: ignore[arg-type]
    assert len(details["diff"]) == 20_000
    assert details["hidden_lines"] > 0


def test_previews_answer_details_without_reading_files_for_unprepared_calls() -> None:
    previews = ApprovalPreviews(backend=None, sandbox_settings=None)  # type: ignore[arg-type]
    assert previews.details(_call("execute", command="ls"))["command"] == "ls"  # type: ignore[arg-type]
    assert previews.details(_call("delete", file_path="/workspace/x"))["state"] == "unread"  # type: ignore[arg-type]
