"""The same review facts as the interrupt description, as data a client can word in its own language.

`action_requests[i].description` is English text, fine for Studio, the SDK and
curl. The web client shows approvals in Chinese or English, so every action
request also carries `details`: the tool, the path or command, what the path
holds now (`state`), the line counts, the diff and the timeout, as plain JSON
values. The English description stays as it is, the fallback for any client
that does not know `details` (HITL's standard shape keeps all its fields).

`state` names the case the description's sentence is about, one of:

- `write_file`: `unread`, `directory`, `unreadable`, `binary`, `new`, `identical`, `overwrite`;
- `edit_file`: `unread`, `missing`, `directory`, `unreadable`, `fails`, `ok`;
- `delete`: `unread`, `directory`, `missing`, `unreadable`, `file`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import ToolCall

from agent.path_snapshot import MAX_DESCRIPTION_CHARS, PathSnapshot, unified_diff
from config.mcp import server_of
from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import WORKSPACE_MOUNT
from sandbox.files.text_ops import replace_text

Details = dict[str, Any]
"""JSON-safe facts about one gated call (see the module docstring)."""


def _with_diff(details: Details, diff: str) -> Details:
    """Adds the diff, cut like the description's so an interrupt stays small."""
    if len(diff) > MAX_DESCRIPTION_CHARS:
        details["hidden_lines"] = diff[MAX_DESCRIPTION_CHARS:].count("\n")
        diff = diff[:MAX_DESCRIPTION_CHARS]
    details["diff"] = diff
    return details


def write_details(path: str, content: str, before: PathSnapshot | None) -> Details:
    """`write_file`: create or overwrite."""
    base: Details = {"tool": "write_file", "path": path}
    if before is None:
        return {**base, "state": "unread", "lines": len(content.splitlines())}
    if before.kind in ("directory", "unreadable"):
        return {**base, "state": before.kind, "problem": before.problem}
    if before.kind == "file" and before.text is None:
        diff, added, _ = unified_diff(path, None, content)
        return _with_diff({**base, "state": "binary", "size": before.size, "added": added, "removed": 0}, diff)
    old = before.text if before.kind == "file" else None
    diff, added, removed = unified_diff(path, old, content)
    state = "new" if old is None else ("identical" if not diff else "overwrite")
    return _with_diff({**base, "state": state, "added": added, "removed": removed}, diff)


def edit_details(path: str, old_string: str, new_string: str, *, replace_all: bool, before: PathSnapshot | None) -> Details:
    """`edit_file`: the replacement applied to the current content."""
    base: Details = {"tool": "edit_file", "path": path}
    if before is None:
        return {**base, "state": "unread", "lines": len(old_string.splitlines())}
    if before.kind != "file" or before.text is None:
        state = before.kind if before.kind in ("missing", "directory") else "unreadable"
        return {**base, "state": state, "problem": before.problem}
    result = replace_text(before.text, old_string, new_string, replace_all=replace_all)
    if isinstance(result, str):
        return {**base, "state": "fails", "problem": result}
    new_text, occurrences = result
    diff, added, removed = unified_diff(path, before.text, new_text)
    return _with_diff({**base, "state": "ok", "replacements": occurrences, "added": added, "removed": removed}, diff)


def delete_details(path: str, before: PathSnapshot | None) -> Details:
    """`delete`: which path, and whether it is a whole directory."""
    base: Details = {"tool": "delete", "path": path}
    if before is None:
        return {**base, "state": "unread"}
    if before.kind == "unreadable":
        return {**base, "state": "unreadable", "problem": before.problem}
    return {**base, "state": before.kind, "size": before.size}


def timeout_details(requested: object, settings: SandboxSettings | None) -> Details:
    """The requested and effective seconds; `requested` is None when the call asked for none."""
    valid = requested is None or (isinstance(requested, int) and not isinstance(requested, bool))
    shown = requested if valid else repr(requested)
    if settings is None:
        return {"requested": shown, "effective": None, "valid": valid}
    if not valid:
        return {"requested": shown, "effective": None, "valid": False}
    effective = settings.effective_timeout(requested if isinstance(requested, int) else None)
    return {"requested": requested, "effective": effective, "valid": True}


def execute_details(command: str, timeout: object, settings: SandboxSettings | None) -> Details:
    """`execute`: the command, where it runs and how long it may take."""
    return {"tool": "execute", "command": command, "cwd": WORKSPACE_MOUNT, "timeout": timeout_details(timeout, settings)}


def details_of(tool_call: ToolCall, before: PathSnapshot | None, settings: SandboxSettings | None) -> Details:
    """The details of any gated call, given what its path held (`None`: not read)."""
    name, args = tool_call["name"], tool_call.get("args") or {}
    path = str(args.get("file_path", ""))
    if name == "write_file":
        return write_details(path, str(args.get("content", "")), before)
    if name == "edit_file":
        old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
        return edit_details(path, old, new, replace_all=bool(args.get("replace_all")), before=before)
    if name == "delete":
        return delete_details(path, before)
    if name == "execute":
        return execute_details(str(args.get("command", "")), args.get("timeout"), settings)
    if name == "start_process":
        return {"tool": "start_process", "command": str(args.get("command", "")), "cwd": WORKSPACE_MOUNT, "background": True}
    return other_details(name, args)


def other_details(name: str, args: Mapping[str, Any]) -> Details:
    """Any other tool: its name; an MCP tool also its server and its arguments, as the reviewer must see them."""
    if (server := server_of(name)) is not None:
        return {"tool": name, "mcp_server": server, "arguments": dict(args)}
    return {"tool": name}
