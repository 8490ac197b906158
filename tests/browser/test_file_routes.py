"""The client's workspace file routes, over plain HTTP against the real server."""

from __future__ import annotations

import os
import uuid

import httpx

from tests.support.langgraph_server import E2EPaths, LangGraphServer


def new_thread(server: LangGraphServer) -> str:
    response = httpx.post(f"{server.url}/threads", json={})
    response.raise_for_status()
    return response.json()["thread_id"]


def test_upload_list_download_round_trip(server: LangGraphServer, browser_paths: E2EPaths) -> None:
    thread_id = new_thread(server)
    base = f"{server.url}/files/{thread_id}"
    data = "数据 1,2,3\n".encode()
    put = httpx.put(f"{base}/content", params={"path": "/workspace/in/data.csv"}, content=data)
    assert put.status_code == 201, put.text
    assert (browser_paths.workspace(thread_id) / "in" / "data.csv").read_bytes() == data

    listing = httpx.get(f"{base}/list", params={"path": "/workspace"}).json()
    assert [(e["name"], e["is_dir"]) for e in listing["entries"]] == [("in", True)]
    inner = httpx.get(f"{base}/list", params={"path": "/workspace/in"}).json()
    assert [(e["name"], e["size"]) for e in inner["entries"]] == [("data.csv", len(data))]

    got = httpx.get(f"{base}/content", params={"path": "/workspace/in/data.csv"})
    assert got.status_code == 200
    assert got.content == data
    assert "attachment" in got.headers["content-disposition"]


def test_paths_outside_the_workspace_are_refused(server: LangGraphServer, browser_paths: E2EPaths) -> None:
    thread_id = new_thread(server)
    base = f"{server.url}/files/{thread_id}"
    for path in ("/shared", "/etc/passwd", "/workspace/../etc/passwd", "relative.txt", "/workspacex/a"):
        response = httpx.get(f"{base}/content", params={"path": path})
        assert response.status_code == 400, (path, response.status_code, response.text)
    assert httpx.put(f"{base}/content", params={"path": "/workspace/../x"}, content=b"x").status_code == 400


def test_symlinks_out_of_the_workspace_are_not_followed(server: LangGraphServer, browser_paths: E2EPaths) -> None:
    thread_id = new_thread(server)
    workspace = browser_paths.workspace(thread_id)
    workspace.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc/passwd", workspace / "passwd")
    os.symlink("/etc", workspace / "etc")
    base = f"{server.url}/files/{thread_id}"
    response = httpx.get(f"{base}/content", params={"path": "/workspace/passwd"})
    assert response.status_code in {400, 403, 404}, response.text
    assert b"root:" not in response.content
    assert httpx.get(f"{base}/list", params={"path": "/workspace/etc"}).status_code in {400, 403, 404}
    write = httpx.put(f"{base}/content", params={"path": "/workspace/etc/evil"}, content=b"x")
    assert write.status_code in {400, 403, 404}, write.text
    assert not os.path.exists("/etc/evil")


def test_unknown_or_malformed_threads_are_refused(server: LangGraphServer) -> None:
    unknown = httpx.get(f"{server.url}/files/{uuid.uuid4()}/list", params={"path": "/workspace"})
    assert unknown.status_code == 404, unknown.text
    bad = httpx.get(f"{server.url}/files/..%2F..%2Fetc/list", params={"path": "/workspace"})
    assert bad.status_code in {400, 404}, bad.text
    assert httpx.put(f"{server.url}/files/{uuid.uuid4()}/content", params={"path": "/workspace/a"}, content=b"x").status_code == 404
