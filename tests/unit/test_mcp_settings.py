"""`MCP_SERVERS_FILE`: the file's shape, server names, and the errors that stop the server at startup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.context import AgentContext
from agent.graph import build_agent
from config.env import SettingsError
from config.mcp import (
    SERVER_NAME,
    HttpServer,
    McpSettings,
    StdioServer,
    enabled_mcp_servers,
    load_servers,
    mcp_tool_name,
    parse_servers,
    server_of,
)
from tests.support.sandbox_settings import make_settings

EXAMPLE = {
    "mcpServers": {
        "notes": {"command": "python3", "args": ["/shared/mcp/notes.py"], "env": {"LEVEL": "1"}},
        "search": {"url": "http://127.0.0.1:8931/mcp", "transport": "streamable_http", "headers": {"X-Key": "k"}},
    }
}


def test_the_example_reads_as_one_stdio_and_one_http_server() -> None:
    notes, search = parse_servers(EXAMPLE, "f")
    assert notes == StdioServer(name="notes", command="python3", args=("/shared/mcp/notes.py",), env={"LEVEL": "1"})
    assert search == HttpServer(name="search", url="http://127.0.0.1:8931/mcp", headers={"X-Key": "k"})


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"command": "x", "url": "http://h/"}, "exactly one of command"),
        ({}, "exactly one of command"),
        ({"command": ""}, "command must be non-empty"),
        ({"command": "x", "args": "a b"}, "args must be a list"),
        ({"command": "x", "args": [1]}, "args[0]"),
        ({"command": "x", "env": {"1BAD": "v"}}, "not a valid name"),
        ({"command": "x", "cwd": "/"}, "unknown keys ['cwd']"),
        ({"command": "x", "type": "sse"}, "stdio transport"),
        ({"url": "file:///etc/passwd"}, "http:// or https://"),
        ({"url": "http://user:pw@host/"}, "no credentials"),
        ({"url": "http://h/", "transport": "sse"}, "streamable_http"),
        ({"url": "http://h/", "headers": {"Bad Header": "v"}}, "not a valid name"),
        ("python3 x.py", "must be an object"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_file_and_the_server(entry: object, says: str) -> None:
    with pytest.raises(SettingsError, match=r"^MCP_SERVERS_FILE f: server 'a'") as caught:
        parse_servers({"mcpServers": {"a": entry}}, "MCP_SERVERS_FILE f")
    assert says in str(caught.value)


@pytest.mark.parametrize("name", ["", "A", "1x", "a__b", "a_b", "a.b", "a/b", "../x", "a b", "x" * 33, "é"])
def test_unsafe_server_names_are_refused(name: str) -> None:
    with pytest.raises(SettingsError, match="server name"):
        parse_servers({"mcpServers": {name: {"command": "x"}}}, "f")


def test_the_file_must_hold_only_mcp_servers(tmp_path: Path) -> None:
    for bad in ([], {"servers": {}}, {"mcpServers": []}, {"mcpServers": {}, "x": 1}):
        with pytest.raises(SettingsError, match="one key, mcpServers"):
            parse_servers(bad, "f")
    broken = tmp_path / "mcp.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match=f"MCP_SERVERS_FILE {broken}: not valid JSON"):
        load_servers(broken)
    with pytest.raises(SettingsError, match="cannot be read"):
        load_servers(tmp_path / "missing.json")


def test_the_setting_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    monkeypatch.setenv("MCP_SERVERS_FILE", str(path))
    assert [s.name for s in McpSettings.from_env().servers()] == ["notes", "search"]
    monkeypatch.setenv("MCP_SERVERS_FILE", "")
    assert McpSettings.from_env().servers() == ()


def test_tool_names_carry_their_server() -> None:
    assert mcp_tool_name("notes", "add_note") == "notes__add_note"
    assert mcp_tool_name("notes", "read.file/x") == "notes__read_file_x"
    assert server_of("notes__add_note") == "notes"
    assert server_of("notes__x__y") == "notes"
    assert server_of("write_file") is None
    assert server_of("notes__") is None


NAMES = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "command": JSON_VALUES,
        "args": JSON_VALUES,
        "env": JSON_VALUES,
        "url": st.sampled_from(["http://127.0.0.1:1/mcp", "https://h/x", "ftp://h", "h"]) | JSON_VALUES,
        "headers": JSON_VALUES,
        "transport": st.sampled_from(["stdio", "http", "sse"]) | JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=NAMES)
def test_any_accepted_name_is_safe(name: str) -> None:
    """A name either is refused or matches the safe pattern; its tool names always lead back to it."""
    try:
        (server,) = parse_servers({"mcpServers": {name: {"command": "x"}}}, "f")
    except SettingsError:
        assert not SERVER_NAME.fullmatch(name)
        return
    assert server.name == name
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in name)
    assert server_of(mcp_tool_name(name, "any tool")) == name


@settings(max_examples=300, deadline=None, derandomize=True)
@given(entries=st.dictionaries(st.sampled_from(["a", "b-2", "c"]), ENTRIES | JSON_VALUES, max_size=3))
def test_any_file_shape_is_read_or_refused_cleanly(entries: dict[str, object]) -> None:
    """Whatever the file holds: servers of the right types, or a `SettingsError` naming the source; nothing else."""
    try:
        servers = parse_servers({"mcpServers": entries}, "SRC")
    except SettingsError as exc:
        refusal = str(exc)
        servers = ()
    else:
        refusal = "SRC: "
    assert refusal.startswith("SRC: ")
    for server in servers:
        assert isinstance(server, StdioServer | HttpServer)
        if isinstance(server, StdioServer):
            assert server.command.strip()
            assert all(isinstance(arg, str) for arg in server.args)
        else:
            assert server.url.startswith(("http://", "https://"))


def test_the_served_graph_does_not_build_with_a_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's startup stops at the graph: the message names the file and the entry."""
    bad = tmp_path / "mcp.json"
    bad.write_text(json.dumps({"mcpServers": {"Bad_Name": {"command": "x"}}}), encoding="utf-8")
    monkeypatch.setenv("MCP_SERVERS_FILE", str(bad))
    with pytest.raises(SettingsError, match=rf"^MCP_SERVERS_FILE {bad}: server name 'Bad_Name'"):
        build_agent(make_settings(tmp_path, "python:3.13-slim"))


NARROWING = [
    ({}, None),
    ({"mcp_servers": None}, None),
    ({"mcp_servers": []}, frozenset()),
    ({"mcp_servers": ["notes", "probe"]}, {"notes", "probe"}),
]
ANY_VALUE = st.one_of(
    st.text(max_size=40),
    st.lists(st.text(max_size=40), max_size=5),
    st.integers(),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
)


@pytest.mark.parametrize(("context", "enabled"), NARROWING)
def test_an_assistant_context_narrows_the_servers(context: dict[str, object], enabled: frozenset[str] | None) -> None:
    assert enabled_mcp_servers(context) == enabled
    assert enabled_mcp_servers(AgentContext(**context)) == enabled  # type: ignore[arg-type]


@given(ANY_VALUE)
@settings(max_examples=200, deadline=None)
def test_any_mcp_servers_value_is_a_set_of_safe_names_or_refused(value: object) -> None:
    """Whatever an assistant's context holds: a set of names the file could list, or a ValueError naming the key."""
    safe = isinstance(value, list) and all(isinstance(name, str) and SERVER_NAME.fullmatch(name) for name in value)
    if not safe:
        with pytest.raises(ValueError, match="mcp_servers"):
            enabled_mcp_servers({"mcp_servers": value})
        return
    assert enabled_mcp_servers({"mcp_servers": value}) == frozenset(value)  # type: ignore[arg-type]
