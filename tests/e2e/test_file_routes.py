"""Workspace file routes act as the authenticated caller, on the thread's one spelling, within a size limit.

Driven over HTTP against the real auth server (`auth_server`: two users with valid
tokens). The file routes run on the host, so one sandbox mode covers them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.memories import memories_path
from tests.e2e.conftest import AuthServer
from tests.support.langgraph_server import E2EPaths

pytestmark = [pytest.mark.e2e]


def _memory_file(paths: E2EPaths, user_id: str) -> Path:
    settings = SandboxSettings(workspaces_dir=paths.workspaces, shared_dir=paths.shared, memories_dir=paths.memories)
    return memories_path(settings, user_id) / "AGENTS.md"


def _seed_memory(paths: E2EPaths, user_id: str, text: str) -> Path:
    """A user's memory file as their sandbox would have written it (owned by the sandbox user)."""
    memory = _memory_file(paths, user_id)
    memory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    memory.write_text(text, encoding="utf-8")
    if os.geteuid() == 0:
        owner = SandboxSettings()
        for path in (memory.parent, memory):
            os.chown(path, owner.uid, owner.gid)
    return memory


def _http(server: AuthServer, user_id: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.keys.token(user_id)}"}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


async def _new_thread_with_file(http: httpx.AsyncClient) -> str:
    thread_id = str((await http.post("/threads", json={})).json()["thread_id"])
    put = await http.put(f"/files/{thread_id}/content", params={"path": "/workspace/hello.txt"}, content=b"hello")
    assert put.status_code == 201, put.text
    return thread_id


async def test_a_symlink_to_memories_reaches_the_callers_memory_never_another_users(auth_server: AuthServer) -> None:
    paths = auth_server.paths
    secret = f"local's secret {uuid.uuid4()}\n"
    local_memory = _seed_memory(paths, SINGLE_USER_ID, secret)
    alice_memory = _seed_memory(paths, "user-a", "alice's own memory\n")
    async with _http(auth_server, "user-a") as alice:
        thread_id = await _new_thread_with_file(alice)
        # What `ln -s /memories/AGENTS.md /workspace/mem` in the thread's shell leaves behind.
        os.symlink("/memories/AGENTS.md", paths.workspace(thread_id) / "mem")
        files = f"/files/{thread_id}/content"

        got = await alice.get(files, params={"path": "/workspace/mem"})
        assert secret.encode() not in got.content, "the file route read another user's /memories"
        assert got.status_code == 200, got.text
        assert got.content == b"alice's own memory\n"

        put = await alice.put(files, params={"path": "/workspace/mem"}, content=b"written through the link\n")
        assert put.status_code == 201, put.text
    assert local_memory.read_text(encoding="utf-8") == secret, "the file route wrote another user's /memories"
    assert alice_memory.read_text(encoding="utf-8") == "written through the link\n"


def _aliases(thread_id: str) -> list[str]:
    value = uuid.UUID(thread_id)
    return [thread_id.upper(), value.hex, value.hex.upper(), thread_id[:8] + thread_id[9:]]


async def test_other_spellings_of_a_thread_id_are_refused_and_get_no_storage(auth_server: AuthServer) -> None:
    paths = auth_server.paths
    async with _http(auth_server, "user-a") as alice:
        thread_id = await _new_thread_with_file(alice)
        for alias in _aliases(thread_id):
            for method, op in (("PUT", "content"), ("GET", "list"), ("GET", "content")):
                answer = await alice.request(method, f"/files/{alias}/{op}", params={"path": "/workspace/hello.txt"}, content=b"x")
                assert answer.status_code == 422, (alias, method, op, answer.status_code, answer.text)
                assert thread_id in answer.json()["detail"], answer.text
            assert not paths.workspace(alias).exists(), f"{alias} got a workspace of its own"
            assert not (paths.workspaces.with_name(paths.workspaces.name + ".disks") / f"{alias}.img").exists()
        # The canonical spelling still works, and sees the one workspace.
        listing = await alice.get(f"/files/{thread_id}/list", params={"path": "/workspace"})
        assert [e["name"] for e in listing.json()["entries"]] == ["hello.txt"]
