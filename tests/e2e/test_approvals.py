"""Approvals as a reviewer sees them: `delete` is gated, descriptions are computed on the server."""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import (
    approve,
    content_text,
    pending_interrupt_values,
    reject,
    resume,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, calls, say
from tests.support.workspace_seed import thread_with_files

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _trigger(name: str) -> str:
    return f"e2e-{name}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("decision", ["reject", "approve"])
async def test_delete_pauses_and_only_approval_deletes(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, decision: str
) -> None:
    trigger = _trigger(f"delete-{decision}")
    scripted_llm.add_scenario(trigger, call("delete", file_path="/workspace/notes.txt"), say("done"))
    thread_id = await thread_with_files(client, e2e_paths, {"notes.txt": "keep me\n"})
    notes = e2e_paths.workspace(thread_id) / "notes.txt"

    first = await stream_run(client, thread_id, input=user_input(f"delete the notes ({trigger})"))
    assert not first.errors, first.describe()
    [action] = first.action_requests
    assert action["name"] == "delete"
    assert action["args"] == {"file_path": "/workspace/notes.txt"}
    assert "/workspace/notes.txt" in action["description"], action
    assert "a file of 8 bytes" in action["description"], action
    [hitl] = first.interrupt_values
    assert set(hitl["review_configs"][0]["allowed_decisions"]) == {"approve", "edit", "reject", "respond"}
    assert notes.read_text(encoding="utf-8") == "keep me\n", "delete ran before a decision"

    answer = approve() if decision == "approve" else reject("keep it")
    second = await stream_run(client, thread_id, command=resume(answer))
    assert not second.errors, second.describe()
    assert not second.interrupts, second.describe()
    [result] = tool_messages(await thread_state(client, thread_id), "delete")
    if decision == "approve":
        assert not notes.exists(), "approved delete did not delete"
        assert "Deleted /workspace/notes.txt" in content_text(result)
    else:
        assert notes.read_text(encoding="utf-8") == "keep me\n", "rejected delete deleted the file"
        assert "keep it" in content_text(result)


async def test_delete_description_says_directory(client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths) -> None:
    trigger = _trigger("delete-dir")
    scripted_llm.add_scenario(trigger, call("delete", file_path="/workspace/build"), say("done"))
    thread_id = await thread_with_files(client, e2e_paths, {"build/out.o": "x", "build/sub/more.o": "y"})

    first = await stream_run(client, thread_id, input=user_input(f"remove build ({trigger})"))
    [action] = first.action_requests
    assert action["description"] == "delete /workspace/build: a DIRECTORY, removed with everything in it", action
    assert action["details"] == {"tool": "delete", "path": "/workspace/build", "state": "directory", "size": 0}, action
    second = await stream_run(client, thread_id, command=resume(reject()))
    assert not second.errors, second.describe()
    assert (e2e_paths.workspace(thread_id) / "build" / "sub" / "more.o").exists()


async def test_write_file_description_is_a_diff_for_a_new_file_and_an_overwrite(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    trigger = _trigger("diff-write")
    scripted_llm.add_scenario(
        trigger,
        calls(
            ("write_file", {"file_path": "/workspace/new.py", "content": "print('a')\nprint('b')\n"}),
            ("write_file", {"file_path": "/workspace/old.py", "content": "x = 1\ny = 3\n"}),
        ),
        say("done"),
    )
    thread_id = await thread_with_files(client, e2e_paths, {"old.py": "x = 1\ny = 2\n"})

    first = await stream_run(client, thread_id, input=user_input(f"write two files ({trigger})"))
    assert not first.errors, first.describe()
    new, overwrite = (a["description"] for a in first.action_requests)
    assert new == (
        "write_file /workspace/new.py: new file, 2 lines\n\n"
        "--- /dev/null\n+++ b/workspace/new.py\n@@ -0,0 +1,2 @@\n+print('a')\n+print('b')\n"
    ), new
    assert overwrite == (
        "write_file /workspace/old.py: overwrites the file, +1 -1 lines\n\n"
        "--- a/workspace/old.py\n+++ b/workspace/old.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"
    ), overwrite

    # The same text through a plain state read (what curl and Studio show).
    pending = pending_interrupt_values(await thread_state(client, thread_id))
    assert [a["description"] for v in pending for a in v["action_requests"]] == [new, overwrite]
    await stream_run(client, thread_id, command=resume(reject(), reject()))


async def test_edit_file_description_is_a_diff_and_execute_shows_command_and_timeout(
    client: LangGraphClient, scripted_llm: ScriptedLLM, e2e_paths: E2EPaths
) -> None:
    trigger = _trigger("diff-edit")
    scripted_llm.add_scenario(
        trigger,
        calls(
            ("edit_file", {"file_path": "/workspace/app.py", "old_string": "return 1", "new_string": "return 2\n    # two"}),
            ("edit_file", {"file_path": "/workspace/app.py", "old_string": "not there", "new_string": "x"}),
            ("execute", {"command": "python3 app.py", "timeout": 99999}),
        ),
        say("done"),
    )
    thread_id = await thread_with_files(client, e2e_paths, {"app.py": "def f():\n    return 1\n\nprint(f())\n"})

    first = await stream_run(client, thread_id, input=user_input(f"edit and run ({trigger})"))
    assert not first.errors, first.describe()
    edit, failing, execute = (a["description"] for a in first.action_requests)
    header = "edit_file /workspace/app.py: 1 replacement, +2 -1 lines\n\n--- a/workspace/app.py\n+++ b/workspace/app.py\n"
    assert edit.startswith(header), edit
    assert "-    return 1\n+    return 2\n+    # two\n" in edit, edit
    assert failing.startswith("edit_file /workspace/app.py: the edit will fail: "), failing
    assert "not there" in failing, failing
    assert execute == (
        "execute in the sandbox\n\ncommand: python3 app.py\nworking directory: /workspace\n"
        "timeout: 99999 s requested, runs with at most 1800 s"
    ), execute
    # The same facts as data, for clients that word them in their own language; the text stays for the others.
    details = [a["details"] for a in first.action_requests]
    assert {k: details[0][k] for k in ("tool", "path", "state", "replacements", "added", "removed")} == {
        "tool": "edit_file",
        "path": "/workspace/app.py",
        "state": "ok",
        "replacements": 1,
        "added": 2,
        "removed": 1,
    }, details[0]
    assert edit.endswith(details[0]["diff"]), details[0]
    assert details[1]["state"] == "fails", details[1]
    assert "not there" in details[1]["problem"], details[1]
    assert details[2] == {
        "tool": "execute",
        "command": "python3 app.py",
        "cwd": "/workspace",
        "timeout": {"requested": 99999, "effective": 1800, "valid": True},
    }, details[2]
    await stream_run(client, thread_id, command=resume(reject(), reject(), reject()))
