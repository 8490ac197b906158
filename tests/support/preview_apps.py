"""Apps the preview tests run inside a thread's session container, and the way they start them.

The agent's tool for background processes is joined at merge; until then the
tests start apps the way it will: a detached `docker exec` as the sandbox user,
in the thread's session container (found from its labels, started through the
sandbox backend like any command would).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from config.sandbox import SandboxSettings
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.containers.container_spec import label_filter, labels_for, sandbox_environment

WS_ECHO = r"""
import base64, hashlib, socket, sys, threading
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
def frame(payload: bytes, opcode: int) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big"))
    return head + payload
def read(conn, n):
    data = b""
    while len(data) < n:
        piece = conn.recv(n - len(data))
        if not piece:
            raise EOFError
        data += piece
    return data
def serve(conn):
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
    key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    try:
        while True:
            first, second = read(conn, 2)
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                n = int.from_bytes(read(conn, 2), "big")
            mask = read(conn, 4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read(conn, n)))
            if opcode == 8:
                conn.sendall(frame(b"\x03\xe8", 8))
                return
            conn.sendall(frame(b"echo: " + payload, opcode))
    except EOFError:
        return
    finally:
        conn.close()
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""
"""A WebSocket echo server in the standard library: answers each text or binary message with `echo: ` and the message."""

PROBE_APP = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PAGE = """<!doctype html><title>probe</title><pre id="result">probing</pre><script>
const found = {};
try { found.localStorage = String(localStorage.getItem("deepagent.token")); } catch (e) { found.localStorage = "refused: " + e.name; }
try { found.cookie = String(document.cookie); } catch (e) { found.cookie = "refused: " + e.name; }
found.origin = String(self.origin);
found.opener = String(window.opener);
fetch("/threads/search", {method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: "{}"})
  .then(r => r.text().then(t => "read " + r.status + " " + t.slice(0, 200)), e => "refused: " + e.name)
  .then(api => { found.api = api; return fetch("headers").then(r => r.json()); })
  .then(h => { found.appSaw = h; document.getElementById("result").textContent = JSON.stringify(found); },
        e => { found.appSaw = "failed: " + e; document.getElementById("result").textContent = JSON.stringify(found); });
</script>"""
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}) if self.path.endswith("/headers") else PAGE
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if self.path.endswith("/headers") else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Set-Cookie", "planted=1; Path=/")
        self.end_headers()
        self.wfile.write(data)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''
"""A page that tries to read the web client's storage, cookies and API from where it is served, and shows what it got;
`headers` echoes the request headers the app received (and every answer tries to plant a cookie)."""


@dataclass
class ThreadSandbox:
    """One thread's session container, driven from the test."""

    box: DockerSandbox
    deployment: SandboxDeployment

    @property
    def container_id(self) -> str:
        settings = self.deployment.settings
        found = self.deployment.api.containers(filters=label_filter(labels_for(settings, thread_id=self.box.thread_id, mode="session")))
        assert found, "the thread's session container is not running"
        return str(found[0]["Id"])

    def run(self, command: str) -> str:
        """Run a command as the agent's `execute` would; its output (the command must succeed)."""
        result = self.box.execute(command)
        assert result.exit_code == 0, result.output
        return result.output

    def start_detached(self, argv: list[str], workdir: str = "/workspace") -> None:
        """Start a background process as the sandbox user, as the agent's background-process tool will."""
        api, settings = self.deployment.api, self.deployment.settings
        created = api.exec_create(
            self.container_id, argv, user=f"{settings.uid}:{settings.gid}", environment=sandbox_environment(), workdir=workdir
        )
        api.exec_start(created["Id"], detach=True)

    def wait_listening(self, port: int, timeout: float = 20.0) -> None:
        """Return once something accepts connections on the container's loopback `port`."""
        probe = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()\""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.box.execute(probe).exit_code == 0:
                return
            time.sleep(0.2)
        msg = f"nothing listens on port {port} in the sandbox"
        raise AssertionError(msg)


@contextmanager
def thread_sandbox(settings: SandboxSettings, thread_id: str, user_id: str) -> Iterator[ThreadSandbox]:
    """The thread's session container (started by its first command); removed with the deployment at the end."""
    deployment = SandboxDeployment(settings.with_overrides(mode="session"))
    try:
        sandbox = ThreadSandbox(DockerSandbox(thread_id, deployment, user_id=user_id), deployment)
        sandbox.run("true")
        yield sandbox
    finally:
        deployment.close(remove_sessions=True)
