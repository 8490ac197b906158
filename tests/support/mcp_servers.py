"""MCP servers for the tests: a plain-python stdio one for the sandbox, a FastMCP streamable-HTTP one on 127.0.0.1.

The sandbox image has python3 but neither the MCP SDK nor a network, so the stdio
server is what an administrator would ship offline under `/shared`: one file of
standard-library Python speaking newline-delimited JSON-RPC (`initialize`,
`tools/list`, `tools/call`). Its tools show what it can see from where it runs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from mcp.server.fastmcp import FastMCP
from starlette.types import ASGIApp

STDIO_SERVER = r"""
import json, os, sys, time

TOOLS = [
    {"name": "whoami", "description": "Where this server runs: pid, hostname, uid, cwd and the names in /.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "read_file", "description": "The text of a file, or 'missing'.",
     "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"name": "echo", "description": "Answer with the text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
    {"name": "crash", "description": "End this server at once.", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "sleep", "description": "Leave /workspace/.probe-sleeping, then answer after that many seconds.",
     "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]}},
]


def call(name, args):
    if name == "whoami":
        with open("/etc/hostname") as f:
            host = f.read().strip()
        return json.dumps({"pid": os.getpid(), "hostname": host, "uid": os.getuid(), "cwd": os.getcwd(),
                           "root": sorted(os.listdir("/")), "secret": os.environ.get("PROBE_SECRET", "")})
    if name == "read_file":
        try:
            with open(args["path"]) as f:
                return f.read()
        except OSError:
            return "missing"
    if name == "echo":
        return args["text"]
    if name == "crash":
        os._exit(3)
    if name == "sleep":
        open("/workspace/.probe-sleeping", "w").close()
        time.sleep(float(args["seconds"]))
        return "slept"
    raise KeyError(name)


for line in sys.stdin:
    if not line.strip():
        continue
    message = json.loads(line)
    method, ident = message.get("method"), message.get("id")
    if ident is None:
        continue
    if method == "initialize":
        result = {"protocolVersion": message["params"].get("protocolVersion", "2025-06-18"),
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "probe", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        params = message["params"]
        try:
            result = {"content": [{"type": "text", "text": call(params["name"], params.get("arguments") or {})}], "isError": False}
        except Exception as exc:
            result = {"content": [{"type": "text", "text": repr(exc)}], "isError": True}
    elif method == "ping":
        result = {}
    else:
        reply = {"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": "no method " + str(method)}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        continue
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}) + "\n")
    sys.stdout.flush()
"""
"""The stdio server's source: standard library only."""

SHARED_PATH = "mcp/probe.py"
"""Where the stdio server is placed under the sandbox's `/shared`."""


def install_stdio_server(shared_dir: Path) -> str:
    """Place the stdio server under `shared_dir` (the host side of `/shared`); its path inside the sandbox."""
    target = shared_dir / SHARED_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STDIO_SERVER, encoding="utf-8")
    target.chmod(0o644)
    return f"/shared/{SHARED_PATH}"


def servers_file(path: Path, servers: dict[str, dict[str, object]]) -> Path:
    """Write an `MCP_SERVERS_FILE` listing `servers`; its path."""
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def notes_app() -> FastMCP:
    """A FastMCP server with two tools: `add_note` (remembers across calls) and `count`."""
    app = FastMCP("notes", stateless_http=False)
    notes: list[str] = []

    @app.tool()
    def add_note(text: str) -> str:
        """Remember a note; answers how many are kept."""
        notes.append(text)
        return f"noted ({len(notes)} kept): {text}"

    @app.tool()
    def count() -> int:
        """How many notes are kept."""
        return len(notes)

    return app


@contextmanager
def http_server(app: FastMCP) -> Iterator[str]:
    """Serve `app` over streamable HTTP on 127.0.0.1 in a thread; yields its URL."""
    with serve_app(app.streamable_http_app()) as base:
        yield f"{base}/mcp"


@contextmanager
def serve_app(asgi: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="mcp-http-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            msg = "the test server did not start"
            raise RuntimeError(msg)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
