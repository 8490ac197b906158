"""Workspace file routes act as the authenticated caller, on the thread's one spelling, within a size limit.

Driven over HTTP against the real auth server (`auth_server`: two users with valid
tokens). The file routes run on the host, so one sandbox mode covers them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from config.identity import SINGLE_USER_ID
from config.sandbox import SandboxSettings
from sandbox.disks.memories import memories_path
from tests.support.auth_keys import AuthKeys
from tests.support.e2e_servers import AuthServer, make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

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


LIMIT = 1024**2
"""SANDBOX_FILE_TRANSFER_MAX of the `small_limit` server."""


@pytest.fixture(scope="module")
def small_limit(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    """An auth server whose file routes move at most `LIMIT` bytes per file."""
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e-file-limit"))
    keys = AuthKeys(jwks_file=paths.server_home / "jwks.json")
    env = server_env(scripted_llm, paths, sandbox_image, **keys.env(), SANDBOX_FILE_TRANSFER_MAX=str(LIMIT))
    try:
        with run_langgraph_dev(workdir=paths.server_home, env=env) as server:
            yield AuthServer(server=server, keys=keys, paths=paths)
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)


async def _pieces(total: int, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A request body sent in pieces, with no Content-Length (as a streaming client sends it)."""
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        yield bytes([sent // piece % 251]) * size
        sent += size


async def test_uploads_and_downloads_stream_within_the_limit_and_413_past_it_leaving_nothing(small_limit: AuthServer) -> None:
    paths = small_limit.paths
    async with _http(small_limit, "user-a") as alice:
        thread_id = await _new_thread_with_file(alice)
        files = f"/files/{thread_id}/content"
        workspace = paths.workspace(thread_id)

        body = b"".join([piece async for piece in _pieces(LIMIT)])
        put = await alice.put(files, params={"path": "/workspace/big.bin"}, content=_pieces(LIMIT))
        assert put.status_code == 201, put.text
        assert put.json()["size"] == LIMIT
        assert (workspace / "big.bin").read_bytes() == body
        got = await alice.get(files, params={"path": "/workspace/big.bin"})
        assert got.status_code == 200, got.text
        assert got.content == body

        # Past the limit: declared up front, or found out midway through a streamed body.
        over = await alice.put(files, params={"path": "/workspace/big.bin"}, content=b"x" * (LIMIT + 1))
        assert over.status_code == 413, over.text
        streamed = await alice.put(files, params={"path": "/workspace/big.bin"}, content=_pieces(LIMIT + 300_000))
        assert streamed.status_code == 413, streamed.text
        fresh = await alice.put(files, params={"path": "/workspace/new/fresh.bin"}, content=_pieces(3 * LIMIT))
        assert fresh.status_code == 413, fresh.text
        assert "SANDBOX_FILE_TRANSFER_MAX" in fresh.json()["detail"]
        assert (workspace / "big.bin").read_bytes() == body, "a refused upload changed the file"
        assert not (workspace / "new" / "fresh.bin").exists()
        leftovers = [p.name for p in workspace.rglob("*") if p.name.startswith(".")]
        assert leftovers == [], f"a refused upload left {leftovers} behind"

        (workspace / "huge.bin").write_bytes(b"y" * (LIMIT + 1))
        too_big = await alice.get(files, params={"path": "/workspace/huge.bin"})
        assert too_big.status_code == 413, too_big.text
        assert "SANDBOX_FILE_TRANSFER_MAX" in too_big.json()["detail"]
