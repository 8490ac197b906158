"""MCP servers the administrator lists (`MCP_SERVERS_FILE`): their settings and the file's shape.

The file uses the shape most MCP clients share:

```json
{"mcpServers": {
    "notes": {"command": "python3", "args": ["/shared/mcp/notes.py"], "env": {"LEVEL": "1"}},
    "search": {"url": "http://127.0.0.1:8931/mcp", "transport": "streamable_http", "headers": {"X-Key": "..."}}
}}
```

A `command` server (stdio) runs inside each thread's sandbox (`sandbox.mcp`); a `url`
server (streamable HTTP) is reached at that URL and nowhere else. The file is read once
when the graph is built, so a mistake stops the server with a message naming the file
and the entry, instead of surfacing in some user's run later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from config.env import SettingsError, read_settings, setting
from config.policy import env_optional_path

SERVER_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""A server's name: it starts every tool name of the server (`<server>__<tool>`), so it stays
short, lowercase and free of the separator, and is safe in a container label and a log line."""
TOOL_SEPARATOR = "__"
"""Between the server's name and the tool's: `notes__add_note`."""
MAX_ARG_CHARS = 4096
"""Longest single `args` entry or `env` / `headers` value."""
MAX_SERVERS = 32
HTTP_TRANSPORTS = frozenset({"streamable_http", "streamable-http", "http"})
"""The spellings MCP clients use for the streamable-HTTP transport (the only remote one offered)."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
_STDIO_KEYS = frozenset({"command", "args", "env", "type", "transport"})
_HTTP_KEYS = frozenset({"url", "transport", "type", "headers"})


@dataclass(frozen=True)
class StdioServer:
    """An MCP server the sandbox starts: `command` with `args` and `env`, run inside the thread's container."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpServer:
    """An MCP server reached over streamable HTTP at `url`, with `headers` on every request."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


type McpServer = StdioServer | HttpServer


def _text(value: object, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()) or len(value) > MAX_ARG_CHARS or "\x00" in value:
        msg = f"{where} must be {'' if empty else 'non-empty '}text without NUL characters, at most {MAX_ARG_CHARS} characters"
        raise SettingsError(msg)
    return value


def _mapping(value: object, where: str, key_pattern: re.Pattern[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"{where} must be an object of text values"
        raise SettingsError(msg)
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key_pattern.fullmatch(key):
            msg = f"{where}: {key!r} is not a valid name"
            raise SettingsError(msg)
        out[key] = _text(item, f"{where}.{key}", empty=True)
    return out


def _stdio(name: str, raw: Mapping[str, object], where: str) -> StdioServer:
    if unknown := sorted(set(raw) - _STDIO_KEYS):
        msg = f"{where}: unknown keys {unknown}; a command server has {sorted(_STDIO_KEYS)}"
        raise SettingsError(msg)
    kind = raw.get("type", raw.get("transport", "stdio"))
    if kind != "stdio":
        msg = f"{where}: a server with a command uses the stdio transport, not {kind!r}"
        raise SettingsError(msg)
    args = raw.get("args", [])
    if not isinstance(args, list):
        msg = f"{where}.args must be a list of text"
        raise SettingsError(msg)
    return StdioServer(
        name=name,
        command=_text(raw.get("command"), f"{where}.command"),
        args=tuple(_text(arg, f"{where}.args[{i}]", empty=True) for i, arg in enumerate(args)),
        env=_mapping(raw.get("env"), f"{where}.env", _ENV_NAME),
    )


def _http(name: str, raw: Mapping[str, object], where: str) -> HttpServer:
    if unknown := sorted(set(raw) - _HTTP_KEYS):
        msg = f"{where}: unknown keys {unknown}; a url server has {sorted(_HTTP_KEYS)}"
        raise SettingsError(msg)
    kind = raw.get("transport", raw.get("type", "streamable_http"))
    if not isinstance(kind, str) or kind not in HTTP_TRANSPORTS:
        msg = f"{where}: transport must be streamable_http (the only remote transport offered), got {kind!r}"
        raise SettingsError(msg)
    url = _text(raw.get("url"), f"{where}.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        msg = f"{where}.url must be an http:// or https:// URL with a host and no credentials, got {url!r}"
        raise SettingsError(msg)
    return HttpServer(name=name, url=url, headers=_mapping(raw.get("headers"), f"{where}.headers", _HEADER_NAME))


def parse_servers(data: object, source: str) -> tuple[McpServer, ...]:
    """The servers of a parsed file; raises `SettingsError` naming `source` and the entry."""
    if not isinstance(data, Mapping) or set(data) != {"mcpServers"} or not isinstance(data["mcpServers"], Mapping):
        msg = f"{source}: the file holds one key, mcpServers: an object of servers by name"
        raise SettingsError(msg)
    entries = data["mcpServers"]
    if len(entries) > MAX_SERVERS:
        msg = f"{source}: at most {MAX_SERVERS} servers, got {len(entries)}"
        raise SettingsError(msg)
    servers: list[McpServer] = []
    for name, raw in entries.items():
        if not isinstance(name, str) or not SERVER_NAME.fullmatch(name):
            msg = f"{source}: server name {name!r} must match {SERVER_NAME.pattern} (lowercase letters, digits, '-')"
            raise SettingsError(msg)
        where = f"{source}: server {name!r}"
        if not isinstance(raw, Mapping):
            msg = f"{where} must be an object with a command or a url"
            raise SettingsError(msg)
        if ("command" in raw) == ("url" in raw):
            msg = f"{where} needs exactly one of command (run in the sandbox) or url (streamable HTTP)"
            raise SettingsError(msg)
        servers.append(_stdio(name, raw, where) if "command" in raw else _http(name, raw, where))
    return tuple(servers)


def load_servers(path: Path | None) -> tuple[McpServer, ...]:
    """The servers the file at `path` lists (none without one); raises `SettingsError` for a missing or malformed file."""
    if path is None:
        return ()
    source = f"MCP_SERVERS_FILE {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{source}: cannot be read ({exc.strerror or type(exc).__name__})"
        raise SettingsError(msg) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{source}: not valid JSON: {exc}"
        raise SettingsError(msg) from None
    return parse_servers(data, source)


def mcp_tool_name(server: str, tool: str) -> str:
    """The agent's name for `tool` of `server`: `<server>__<tool>`, with characters models refuse replaced, at most 64."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", tool)
    return f"{server}{TOOL_SEPARATOR}{safe}"[:64]


def server_of(tool_name: str) -> str | None:
    """The server a tool name belongs to when it has the MCP shape (`<server>__<tool>`), else None."""
    server, separator, tool = tool_name.partition(TOOL_SEPARATOR)
    return server if separator and tool and SERVER_NAME.fullmatch(server) else None


MCP_SERVERS_KEY = "mcp_servers"
"""The context key with which an assistant narrows the administrator's MCP servers (`agent.context.AgentContext`)."""


def enabled_mcp_servers(context: object) -> frozenset[str] | None:
    """The MCP server names a run's context enables (None: every configured one); ValueError for a malformed list."""
    names = context.get(MCP_SERVERS_KEY) if isinstance(context, Mapping) else getattr(context, MCP_SERVERS_KEY, None)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) and SERVER_NAME.fullmatch(name) for name in names):
        msg = f"{MCP_SERVERS_KEY} must be a list of MCP server names (each matching {SERVER_NAME.pattern}), got {names!r}"
        raise ValueError(msg)
    return frozenset(names)


@dataclass(frozen=True)
class McpSettings:
    """Where the administrator's MCP servers are listed; build with `from_env()`."""

    servers_file: Path | None = setting("MCP_SERVERS_FILE", env_optional_path, None)
    """A JSON file of MCP servers whose tools the agent gets, as `<server>__<tool>` (docs/mcp.md):
    `{"mcpServers": {"<name>": {"command": ..., "args": [...], "env": {...}}}}` for a server run inside
    each thread's sandbox (no network, the thread's /workspace), or `{"url": "https://...", "headers": {...}}`
    for a streamable-HTTP server reached at that URL only. Names match `[a-z][a-z0-9-]{0,31}`. Every MCP
    tool call asks for approval unless a permission rule allows it. Read once at startup; a missing or
    malformed file stops the server with a message naming it. Unset: no MCP servers."""

    @classmethod
    def from_env(cls) -> McpSettings:
        """Read `MCP_SERVERS_FILE` (and the project's `.env`, `config.env`); raise `SettingsError` naming a bad variable."""
        return read_settings(cls)

    def servers(self) -> tuple[McpServer, ...]:
        """The servers the file lists, read now."""
        return load_servers(self.servers_file)
