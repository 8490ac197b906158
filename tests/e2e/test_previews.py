"""Preview links open an app listening in a thread's sandbox, for its owner only, while the sandbox keeps no network.

A real `langgraph dev` (auth on, session sandboxes), real Docker: the test starts
`python3 -m http.server 8000` (and a stdlib WebSocket echo server) in the thread's
session container, detached, as the sandbox user; the agent tool that starts
background processes is joined at merge. Links are fetched without any other
credential, as a browser would open them.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from config.sandbox import SandboxSettings
from sandbox.previews.folders import previews_path, previews_root
from server.preview_links import PreviewGrant, sign
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import LANGGRAPH_DEV
from tests.support.preview_apps import WS_ECHO, ThreadSandbox, thread_sandbox
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

OWNER, OTHER = "preview-owner", "preview-other"
SECRET = "preview-links-secret-for-the-e2e-tests-0123456789"
TTL = 10
SANDBOX_CSP = "sandbox allow-scripts allow-forms allow-popups"


@pytest.fixture(scope="module")
def preview_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    """An auth-enabled `langgraph dev` with session sandboxes and short links."""
    with auth_server_with(
        LANGGRAPH_DEV,
        scripted_llm,
        tmp_path_factory,
        sandbox_image,
        SANDBOX_MODE="session",
        PREVIEW_LINK_TTL=str(TTL),
        PREVIEW_SECRET=SECRET,
    ) as server:
        yield server


def _settings(server: AuthServer, image: str) -> SandboxSettings:
    paths = server.paths
    return SandboxSettings(
        image=image,
        workspaces_dir=paths.workspaces,
        shared_dir=paths.shared,
        memories_dir=paths.memories,
        audit_log=paths.server_home / "audit.jsonl",
        mode="session",
    )


def _http(server: AuthServer, user_id: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.keys.token(user_id)}"} if user_id else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def thread_id(preview_server: AuthServer) -> str:
    with _http(preview_server, OWNER) as http:
        return str(http.post("/threads", json={}).raise_for_status().json()["thread_id"])


@pytest.fixture(scope="module")
def sandbox(preview_server: AuthServer, thread_id: str, sandbox_image: str) -> Iterator[ThreadSandbox]:
    """The owner's thread with a site served on 8000 and a WebSocket echo on 8001."""
    with thread_sandbox(_settings(preview_server, sandbox_image), thread_id, OWNER) as box:
        box.run(
            "mkdir -p site/sub && printf '<a href=\"sub/page.html\">next</a> index of the site\\n' > site/index.html"
            " && printf 'the sub page\\n' > site/sub/page.html"
        )
        written = box.box.write("/workspace/ws_echo.py", WS_ECHO)
        assert written.error is None, written.error
        box.start_detached(["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"], workdir="/workspace/site")
        box.start_detached(["python3", "/workspace/ws_echo.py", "8001"])
        box.wait_listening(8000)
        box.wait_listening(8001)
        yield box


def _link(server: AuthServer, thread_id: str, port: int | str, user_id: str = OWNER) -> httpx.Response:
    with _http(server, user_id) as http:
        return http.post(f"/preview/{thread_id}/{port}")


def _url(server: AuthServer, thread_id: str, port: int) -> str:
    made = _link(server, thread_id, port)
    assert made.status_code == 201, made.text
    return str(made.json()["url"])


def test_the_owner_opens_the_app_and_its_relative_links_with_the_link_alone(
    preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox
) -> None:
    made = _link(preview_server, thread_id, 8000)
    assert made.status_code == 201, made.text
    body = made.json()
    url = body["url"]
    assert url.startswith(preview_server.url + "/preview/t/")
    assert url.endswith("/")
    assert abs(datetime.fromisoformat(body["expires_at"]).timestamp() - (time.time() + TTL)) < 5
    with httpx.Client(timeout=30) as browser:  # no token, no cookie: what a browser navigation has
        page = browser.get(url)
        assert page.status_code == 200, page.text
        assert "index of the site" in page.text
        assert page.headers["content-security-policy"] == SANDBOX_CSP
        sub = browser.get(httpx.URL(url).join("sub/page.html"))
        assert sub.status_code == 200, sub.text
        assert sub.text == "the sub page\n"
        assert sub.headers["content-security-policy"] == SANDBOX_CSP
        bare = browser.get(url.rstrip("/"))
        assert bare.status_code == 307
        assert bare.headers["location"].endswith(httpx.URL(url).path)


def test_a_websocket_reaches_the_app_through_the_link(preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox) -> None:
    url = _url(preview_server, thread_id, 8001).replace("http://", "ws://", 1)
    with ws_connect(url + "socket", open_timeout=20) as ws:
        ws.send("hello")
        assert ws.recv(timeout=20) == "echo: hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=20) == b"echo: \x00\x01"
    forged = url.replace("/preview/t/", "/preview/t/x", 1)
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(forged + "socket", open_timeout=20)
    assert refused.value.response.status_code == 403


def test_only_the_owner_gets_a_link_and_only_for_a_port(preview_server: AuthServer, thread_id: str) -> None:
    assert _link(preview_server, thread_id, 8000, OTHER).status_code == 404
    with _http(preview_server) as anonymous:
        assert anonymous.post(f"/preview/{thread_id}/8000").status_code == 401
    for port in ("0", "65536", "abc", "-1", "80.5", "99999999999999999999"):
        refused = _link(preview_server, thread_id, port)
        assert refused.status_code == 422, (port, refused.text)
    missing = _link(preview_server, "00000000-0000-4000-8000-000000000000", 8000)
    assert missing.status_code == 404


def _tampered(token: str, **changes: object) -> str:
    """The token with its payload changed and its signature kept."""
    payload, signature = token.split(".")
    version, user_id, thread_id, port, expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields = {"user_id": user_id, "thread_id": thread_id, "port": port, "expires": expires, **changes}
    raw = json.dumps([version, fields["user_id"], fields["thread_id"], fields["port"], fields["expires"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode() + "." + signature


def test_a_link_opens_only_its_thread_and_port_and_not_once_expired(
    preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox
) -> None:
    url = _url(preview_server, thread_id, 8000)
    token = httpx.URL(url).path.split("/")[3]
    with _http(preview_server, OTHER) as http:
        others = str(http.post("/threads", json={}).raise_for_status().json()["thread_id"])
    base = f"{preview_server.url}/preview/t"
    with httpx.Client(timeout=30) as browser:
        assert browser.get(url).status_code == 200
        for forged in (
            _tampered(token, port=8001),
            _tampered(token, thread_id=others),
            _tampered(token, user_id=OTHER),
            _tampered(token, expires=int(time.time()) + 3600),
            sign(b"another key that is not the server's", PreviewGrant(OWNER, thread_id, 8000, int(time.time()) + 60)),
            "not-a-link",
            token + "x",
        ):
            refused = browser.get(f"{base}/{forged}/")
            assert refused.status_code in {403, 404}, (forged, refused.text)
            assert "index of the site" not in refused.text
        assert browser.get(f"{base}/{_tampered(token, port=8001)}/").status_code == 403
        assert browser.get(f"{base}//").status_code == 401  # no link at all: the API's own refusal
        expired = sign(SECRET.encode(), PreviewGrant(OWNER, thread_id, 8000, int(time.time()) - 1))
        assert browser.get(f"{base}/{expired}/").status_code == 401
        # The server's own link stops working once its PREVIEW_LINK_TTL is over.
        time.sleep(TTL + 1)
        late = browser.get(url)
        assert late.status_code == 401, late.text
        assert "index of the site" not in late.text


def test_the_sandbox_has_no_route_and_only_loopback(preview_server: AuthServer, sandbox: ThreadSandbox) -> None:
    routes = sandbox.run("cat /proc/net/route").strip().splitlines()
    assert len(routes) == 1, routes  # the header alone: no default route, no route at all
    assert routes[0].startswith("Iface"), routes
    assert sandbox.run("ls /sys/class/net").split() == ["lo"]
    ipv6_routes = sandbox.run("cat /proc/net/ipv6_route || true")
    assert all(line.split()[-1] == "lo" for line in ipv6_routes.strip().splitlines()), ipv6_routes


def test_a_link_to_a_port_nothing_listens_on_answers_502(preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox) -> None:
    url = _url(preview_server, thread_id, 8999)
    with httpx.Client(timeout=30) as browser:
        answer = browser.get(url)
    assert answer.status_code == 502, answer.text
    assert "Nothing answers on port 8999" in answer.text


def test_a_socket_name_the_sandbox_points_elsewhere_is_never_followed(
    preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox, tmp_path: Path
) -> None:
    # A socket of the host's, as the Docker socket would be: the sandbox links its relay name to it.
    host_socket_path = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(host_socket_path))
    listener.listen()
    listener.settimeout(0.2)
    reached: list[bytes] = []

    def watch() -> None:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            reached.append(conn.recv(100))
            conn.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    folder = previews_path(_settings(preview_server, "unused"), thread_id)
    (folder / "9001.sock").symlink_to(host_socket_path)
    try:
        url = _url(preview_server, thread_id, 9001)
        with httpx.Client(timeout=30) as browser:
            answer = browser.get(url)
        assert answer.status_code == 502, answer.text
        assert "not a relay socket" in answer.text
    finally:
        watcher.join()
        listener.close()
        (folder / "9001.sock").unlink()
    assert reached == [], "the server followed the sandbox's link to a host socket"


def test_the_thread_folder_holds_only_its_own_relays(preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox) -> None:
    _url(preview_server, thread_id, 8000)  # at least one relay ran
    root = previews_root(_settings(preview_server, "unused"))
    assert root.stat().st_mode & 0o777 == 0o711
    inside = sandbox.run("ls -a /run/previews").split()
    on_host = sorted(p.name for p in previews_path(_settings(preview_server, "unused"), thread_id).iterdir())
    assert sorted(name for name in inside if name not in {".", ".."}) == on_host
    assert "8000.sock" in on_host


PATH_CHARS = st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/", "%2F", "%20", "%0a", "%ff", "%", "..", "//", "\\\\", "%2e%2e"])
"""Pieces of request paths. Not `%00`: Python's `http.server` drops the connection on a NUL in a path (its own
failure; the proxy's honest answer is 502, checked on its own below)."""


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    parts=st.lists(PATH_CHARS, max_size=12),
    query=st.none() | st.text(alphabet=st.sampled_from([*"a=&%20+;/?"]), max_size=20),
    method=st.sampled_from(["GET", "HEAD"]),
)
def _any_path_through_a_link(link: str, parts: list[str], query: str | None, method: str) -> None:
    assume("%00" not in "".join(parts))  # see PATH_CHARS
    target = httpx.URL(link).path + "".join(parts) + (f"?{query}" if query is not None else "")
    host = httpx.URL(link).netloc.decode()
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.endheaders()
        answer = connection.getresponse()
        text = answer.read()[:300]
    finally:
        connection.close()
    assert answer.status < 500 or answer.status == 501, (target, answer.status, text)  # 501: http.server's own answer to nothing it knows
    assert answer.getheader("content-security-policy") == SANDBOX_CSP, target


def test_any_path_through_a_valid_link_is_answered_under_the_sandbox_policy(
    preview_server: AuthServer, thread_id: str, sandbox: ThreadSandbox
) -> None:
    url = _url(preview_server, thread_id, 8000)
    _any_path_through_a_link(url)
    with httpx.Client(timeout=30) as browser:
        dropped = browser.get(url + "%00")
        newline = browser.get(url + "a%0ab")
    assert dropped.status_code == 502, dropped.text
    assert dropped.headers["content-security-policy"] == SANDBOX_CSP
    assert newline.status_code == 404, newline.text  # the app's own answer: the path reached it
    assert newline.headers["content-security-policy"] == SANDBOX_CSP


def test_deleting_the_thread_ends_its_previews(preview_server: AuthServer, sandbox_image: str) -> None:
    with _http(preview_server, OWNER) as http:
        doomed = str(http.post("/threads", json={}).raise_for_status().json()["thread_id"])
    settings = _settings(preview_server, sandbox_image)
    with thread_sandbox(settings, doomed, OWNER) as box:
        box.start_detached(["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"])
        box.wait_listening(8000)
        url = _url(preview_server, doomed, 8000)
        with httpx.Client(timeout=30) as browser:
            assert browser.get(url).status_code == 200
            with _http(preview_server, OWNER) as http:
                assert http.delete(f"/threads/{doomed}").status_code == 204
            gone = browser.get(url)
        assert gone.status_code == 502, gone.text
        assert not previews_path(settings, doomed).exists()
