"""The owner deletes and renames workspace entries over HTTP: under the agent's file rules, audited, nobody else's.

Driven against the real auth server (`auth_server`: two users with valid tokens);
a refused path is compared with what the agent's own `delete` tool answers for it,
run through a real approval.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.agent_client import approve, content_text, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import SHARED_FILE_NAME, SHARED_FILE_TEXT, AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say
from tests.support.workspace_seed import thread_with_files

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

OWNER, OTHER = "user-a", "user-b"


def _http(server: AuthServer, user_id: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.keys.token(user_id)}"} if user_id else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


async def _seeded(server: AuthServer, files: dict[str, str]) -> tuple[str, Path]:
    async with server.client(OWNER) as sdk:
        thread_id = await thread_with_files(sdk, server.paths, files)
    return thread_id, server.paths.workspace(thread_id)


def _on_host(path: str) -> bool:
    return Path(path).exists()


def _audit_lines(server: AuthServer, thread_id: str) -> list[dict[str, Any]]:
    log = server.paths.server_home / "audit.jsonl"
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return [line for line in lines if line.get("event") == "file" and line.get("thread") == thread_id]


async def test_the_owner_deletes_and_renames_and_each_change_is_audited(auth_server: AuthServer) -> None:
    thread_id, workspace = await _seeded(auth_server, {"a.txt": "a\n", "keep.txt": "k\n", "build/out.o": "o", "build/sub/x.o": "x"})
    async with _http(auth_server, OWNER) as owner:
        renamed = await owner.post(f"/files/{thread_id}/rename", params={"path": "/workspace/a.txt", "to": "/workspace/b.txt"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json() == {"path": "/workspace/a.txt", "to": "/workspace/b.txt"}
        assert not (workspace / "a.txt").exists()
        assert (workspace / "b.txt").read_text(encoding="utf-8") == "a\n"

        moved = await owner.post(f"/files/{thread_id}/rename", params={"path": "/workspace/b.txt", "to": "/workspace/build/b.txt"})
        assert moved.status_code == 200, moved.text
        assert (workspace / "build" / "b.txt").read_text(encoding="utf-8") == "a\n"

        deleted = await owner.delete(f"/files/{thread_id}/content", params={"path": "/workspace/build"})
        assert deleted.status_code == 200, deleted.text
        assert not (workspace / "build").exists(), "a folder is deleted with everything in it"
        gone = await owner.delete(f"/files/{thread_id}/content", params={"path": "/workspace/keep.txt"})
        assert gone.status_code == 200, gone.text
        listing = await owner.get(f"/files/{thread_id}/list", params={"path": "/workspace"})
        assert listing.json()["entries"] == []

    audit = _audit_lines(auth_server, thread_id)
    assert [(r["operation"], r["path"], r.get("to"), r["user"]) for r in audit] == [
        ("rename", "/workspace/a.txt", "/workspace/b.txt", OWNER),
        ("rename", "/workspace/b.txt", "/workspace/build/b.txt", OWNER),
        ("delete", "/workspace/build", None, OWNER),
        ("delete", "/workspace/keep.txt", None, OWNER),
    ]
    assert all("error" not in r and r["time"].endswith("Z") for r in audit), audit


async def test_another_user_or_no_token_changes_nothing(auth_server: AuthServer) -> None:
    thread_id, workspace = await _seeded(auth_server, {"mine.txt": "mine\n"})
    calls = (
        ("DELETE", "content", {"path": "/workspace/mine.txt"}),
        ("POST", "rename", {"path": "/workspace/mine.txt", "to": "/workspace/theirs.txt"}),
    )
    async with _http(auth_server, OTHER) as other, _http(auth_server, None) as anonymous:
        expected_anonymous = (await anonymous.get(f"/files/{thread_id}/list", params={"path": "/workspace"})).status_code
        for method, op, params in calls:
            answer = await other.request(method, f"/files/{thread_id}/{op}", params=params)
            assert answer.status_code == 404, (method, answer.text)
            assert answer.json() == {"detail": "thread not found"}
            # Without a token: what the existing file routes answer (the API's own 401).
            unsigned = await anonymous.request(method, f"/files/{thread_id}/{op}", params=params)
            assert unsigned.status_code == expected_anonymous == 401, (method, unsigned.text)
    assert [p.name for p in workspace.iterdir()] == ["mine.txt"]
    assert _audit_lines(auth_server, thread_id) == [], "a refused caller is not an owner's change"


async def test_a_path_the_agent_may_not_change_is_refused_with_the_agents_own_error(
    auth_server: AuthServer, scripted_llm: ScriptedLLM
) -> None:
    thread_id, workspace = await _seeded(auth_server, {"a.txt": "a\n"})
    # What `ln -s /shared /workspace/sh` in the thread's shell leaves behind: a way into the read-only /shared.
    os.symlink("/shared", workspace / "sh")
    through_link = f"/workspace/sh/{SHARED_FILE_NAME}"
    async with _http(auth_server, OWNER) as owner:
        deleted = await owner.delete(f"/files/{thread_id}/content", params={"path": through_link})
        renamed_into = await owner.post(f"/files/{thread_id}/rename", params={"path": "/workspace/a.txt", "to": "/workspace/sh/a.txt"})
        renamed_out = await owner.post(f"/files/{thread_id}/rename", params={"path": through_link, "to": "/workspace/stolen.txt"})
    for answer in (deleted, renamed_into, renamed_out):
        assert answer.status_code == 403, answer.text
        assert "/shared, which is read-only" in answer.json()["detail"], answer.text
    assert (auth_server.paths.shared / SHARED_FILE_NAME).read_text(encoding="utf-8") == SHARED_FILE_TEXT
    assert (workspace / "a.txt").exists()
    assert not (workspace / "stolen.txt").exists()
    refused = _audit_lines(auth_server, thread_id)
    assert [(r["operation"], r["error"]) for r in refused] == [
        ("delete", deleted.json()["detail"]),
        ("rename", renamed_into.json()["detail"]),
        ("rename", renamed_out.json()["detail"]),
    ]

    # The agent's own `delete` of the same path, approved, gets the very same refusal.
    trigger = f"delete-through-link-{thread_id[:8]}"
    scripted_llm.add_scenario(trigger, call("delete", file_path=through_link), say("done"))
    async with auth_server.client(OWNER) as sdk:
        first = await stream_run(sdk, thread_id, input=user_input(trigger))
        assert first.action_requests, first.describe()
        second = await stream_run(sdk, thread_id, command=resume(approve()))
        assert not second.errors, second.describe()
        [result] = tool_messages(await thread_state(sdk, thread_id), "delete")
    assert deleted.json()["detail"] in content_text(result), (deleted.text, content_text(result))


async def test_a_symlink_out_of_the_sandbox_is_refused_like_the_file_tools_refuse_it(auth_server: AuthServer) -> None:
    thread_id, workspace = await _seeded(auth_server, {"a.txt": "a\n"})
    os.symlink("/etc", workspace / "etc")
    async with _http(auth_server, OWNER) as owner:
        deleted = await owner.delete(f"/files/{thread_id}/content", params={"path": "/workspace/etc/hostname"})
        moved = await owner.post(f"/files/{thread_id}/rename", params={"path": "/workspace/a.txt", "to": "/workspace/etc/a.txt"})
        link_itself = await owner.delete(f"/files/{thread_id}/content", params={"path": "/workspace/etc"})
    for answer in (deleted, moved):
        assert answer.status_code == 400, answer.text
        assert "leads outside /workspace" in answer.json()["detail"], answer.text
    assert _on_host("/etc/hostname")
    assert not _on_host("/etc/a.txt")
    assert link_itself.status_code == 200, "deleting a link removes the link, never its target"
    assert _on_host("/etc/")
    assert not (workspace / "etc").is_symlink()


BAD_DELETES: list[tuple[str | None, int]] = [
    (None, 400),
    ("", 400),
    ("/workspace", 400),
    ("/workspace/", 400),
    ("/workspace/sub/..", 400),
    ("/workspace/../etc/passwd", 400),
    ("/etc/passwd", 400),
    ("relative.txt", 400),
    ("/shared/" + SHARED_FILE_NAME, 400),
    ("/workspace/nul\x00byte", 400),
    ("/workspace/" + "n" * 300, 400),
    ("/workspace/" + "d/" * 3000, 400),
    ("/workspace/missing.txt", 404),
]


async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(auth_server: AuthServer) -> None:
    thread_id, workspace = await _seeded(auth_server, {"a.txt": "a\n", "b.txt": "b\n", "dir/c.txt": "c\n"})
    async with _http(auth_server, OWNER) as owner:
        for path, status in BAD_DELETES:
            params = {} if path is None else {"path": path}
            answer = await owner.delete(f"/files/{thread_id}/content", params=params)
            assert answer.status_code == status, (path, answer.status_code, answer.text)
            assert answer.json()["detail"], answer.text
        rename = f"/files/{thread_id}/rename"
        bad_renames = [
            ({"path": "/workspace/a.txt", "to": "/workspace/b.txt"}, 409),  # onto an existing file
            ({"path": "/workspace/a.txt", "to": "/workspace/dir"}, 409),  # onto an existing folder
            ({"path": "/workspace/dir", "to": "/workspace/dir/inside"}, 400),  # a folder into itself
            ({"path": "/workspace/a.txt", "to": "/workspace"}, 400),
            ({"path": "/workspace", "to": "/workspace/w"}, 400),
            ({"path": "/workspace/a.txt"}, 400),
            ({"to": "/workspace/x.txt"}, 400),
            ({"path": "/workspace/a.txt", "to": "/workspace/../x.txt"}, 400),
            ({"path": "/workspace/a.txt", "to": "/tmp/x.txt"}, 400),
            ({"path": "/workspace/a.txt", "to": "/workspace/x\x00.txt"}, 400),
            ({"path": "/workspace/a.txt", "to": "/workspace/" + "n" * 300}, 400),
            ({"path": "/workspace/a.txt", "to": "/workspace/no/such/dir/x.txt"}, 404),
            ({"path": "/workspace/missing.txt", "to": "/workspace/x.txt"}, 404),
        ]
        for params, status in bad_renames:
            answer = await owner.post(rename, params=params)
            assert answer.status_code == status, (params, answer.status_code, answer.text)
            assert answer.json()["detail"], answer.text
    assert sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*")) == ["a.txt", "b.txt", "dir", "dir/c.txt"]
    assert (workspace / "b.txt").read_text(encoding="utf-8") == "b\n", "a rename replaced an existing file"


async def test_an_upload_by_the_owner_is_audited_and_a_refused_one_is_not(auth_server: AuthServer) -> None:
    thread_id, workspace = await _seeded(auth_server, {"keep.txt": "k\n"})
    async with _http(auth_server, OWNER) as owner, _http(auth_server, OTHER) as other:
        put = await owner.put(f"/files/{thread_id}/content", params={"path": "/workspace/up/loaded.txt"}, content=b"12345")
        assert put.status_code == 201, put.text
        refused = await other.put(f"/files/{thread_id}/content", params={"path": "/workspace/theirs.txt"}, content=b"x")
        assert refused.status_code == 404, refused.text
    assert (workspace / "up" / "loaded.txt").read_bytes() == b"12345"
    audit = _audit_lines(auth_server, thread_id)
    assert [(r["operation"], r["path"], r.get("bytes"), r["user"]) for r in audit] == [("upload", "/workspace/up/loaded.txt", 5, OWNER)]
