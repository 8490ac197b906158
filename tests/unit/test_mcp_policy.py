"""MCP tools in the permission policy: they ask by default, rules may name them, and HITL finds them."""

from __future__ import annotations

import pytest

from agent.approval_descriptions import describe_other
from agent.approval_details import details_of
from agent.approval_policy import interrupt_on
from agent.policy.layers import RunRules
from agent.policy.paths import call_facts
from agent.policy.rules import RuleError, parse_rules


def decide(tool: str, admin: object = None, user: object = None) -> str:
    rules = RunRules.of(parse_rules(admin, "admin"), {"user_rules": user})
    return rules.decide(call_facts(tool, {"text": "hi"})).decision


def test_an_mcp_tool_asks_by_default_even_when_the_assistant_gates_nothing() -> None:
    assert decide("notes__add_note") == "ask"
    rules = RunRules.of((), {"approval_tools": []})
    assert rules.decide(call_facts("notes__add_note", {})).decision == "ask"
    assert rules.decide(call_facts("execute", {"command": "ls"})).decision == "allow"


@pytest.mark.parametrize(
    ("rule", "tool", "decision"),
    [
        ({"tools": ["notes__add_note"], "mode": "allow"}, "notes__add_note", "allow"),
        ({"tools": ["notes__add_note"], "mode": "allow"}, "notes__delete_all", "ask"),
        ({"tools": ["notes__*"], "mode": "allow"}, "notes__delete_all", "allow"),
        ({"tools": ["notes__*"], "mode": "allow"}, "search__find", "ask"),
        ({"tools": ["*"], "mode": "deny"}, "search__find", "deny"),
        ({"mode": "deny"}, "search__find", "deny"),
        ({"paths": ["/workspace/**"], "mode": "deny"}, "search__find", "ask"),
    ],
)
def test_rules_name_mcp_tools_exactly_or_by_server(rule: dict[str, object], tool: str, decision: str) -> None:
    assert decide(tool, admin=[rule]) == decision


def test_a_user_allow_does_not_loosen_an_admin_ask_on_mcp_tools() -> None:
    assert decide("notes__x", admin=[{"tools": ["notes__*"], "mode": "ask"}], user=[{"tools": ["notes__x"], "mode": "allow"}]) == "ask"


def test_rules_still_refuse_names_that_are_neither_built_in_nor_mcp() -> None:
    with pytest.raises(RuleError, match="unknown tools"):
        parse_rules([{"tools": ["rm_rf"], "mode": "deny"}], "admin")


def test_hitl_finds_the_configured_servers_tools_only() -> None:
    gates = interrupt_on(lambda *_: "d", mcp_servers=frozenset({"notes"}))
    assert gates.get("notes__add_note") is not None
    assert gates.get("other__add_note") is None
    assert gates.get("execute") is not None
    assert interrupt_on(lambda *_: "d").get("notes__add_note") is None


def test_the_reviewer_sees_the_server_and_every_argument() -> None:
    call = {"name": "notes__add_note", "args": {"text": "buy milk", "tags": ["a"]}, "id": "1", "type": "tool_call"}
    assert details_of(call, None, None) == {"tool": "notes__add_note", "mcp_server": "notes", "arguments": call["args"]}  # type: ignore[arg-type]
    text = describe_other(call["name"], call["args"])  # type: ignore[arg-type]
    assert "add_note of MCP server 'notes'" in text
    assert '"buy milk"' in text
