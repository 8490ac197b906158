"""The permission policy's rules: each kind, the layering, the defaults, and the admin file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.approval_policy import ApprovalPolicy
from agent.context import AgentContext
from agent.policy.commands import matches_anywhere, matches_plainly
from agent.policy.layers import RunRules
from agent.policy.loading import load_admin_rules, parse_policy_text
from agent.policy.paths import call_facts
from agent.policy.rules import RULE_KEYS, RuleError, parse_rules

EXAMPLE = [
    {"name": "src is free", "tools": ["write_file", "edit_file"], "paths": ["src/**"], "mode": "allow"},
    {"name": "no secrets", "operations": ["read", "write"], "paths": ["**/.env"], "mode": "deny"},
    {"name": "rm -rf pauses", "commands": ["rm -rf", "rm -fr"], "mode": "ask"},
    {"name": "no pushing", "commands": ["git push"], "mode": "deny"},
]
"""docs/permissions.md's example, as an assistant's rules."""


def decide(tool: str, context: object = None, admin: object = None, **args: object) -> tuple[str, str | None]:
    rules = RunRules.of(parse_rules(admin, "admin"), context or {})
    verdict = rules.decide(call_facts(tool, args))
    return verdict.decision, verdict.rule.label if verdict.rule else None


@pytest.mark.parametrize(
    ("tool", "args", "decision", "rule"),
    [
        ("write_file", {"file_path": "/workspace/src/app.py"}, "allow", "src is free"),
        ("edit_file", {"file_path": "src/app.py"}, "allow", "src is free"),
        ("write_file", {"file_path": "/workspace/README.md"}, "ask", None),
        ("read_file", {"file_path": "/workspace/.env"}, "deny", "no secrets"),
        ("read_file", {"file_path": "/workspace/app/.env"}, "deny", "no secrets"),
        ("write_file", {"file_path": ".env"}, "deny", "no secrets"),
        ("read_file", {"file_path": "/workspace/README.md"}, "allow", None),
        ("execute", {"command": "rm -rf build"}, "ask", "rm -rf pauses"),
        ("execute", {"command": "git push origin main"}, "deny", "no pushing"),
        ("execute", {"command": "git status && git push"}, "deny", "no pushing"),
        ("execute", {"command": "echo $(git push)"}, "deny", "no pushing"),
        ("execute", {"command": "GIT_TRACE=1 git push"}, "deny", "no pushing"),
        ("execute", {"command": "git pull"}, "ask", None),
        ("delete", {"file_path": "/workspace/app"}, "deny", "no secrets"),  # removes whatever .env is inside
        ("grep", {"pattern": "KEY", "path": "/workspace"}, "deny", "no secrets"),  # reads every file below
        ("ls", {"path": "/workspace"}, "allow", None),  # names only
    ],
)
def test_each_rule_kind(tool: str, args: dict, decision: str, rule: str | None) -> None:
    got, label = decide(tool, {"policy_rules": EXAMPLE}, **args)
    assert got == decision
    assert (label is None) if rule is None else (label is not None and rule in label)


def test_without_rules_the_approval_defaults_decide() -> None:
    assert decide("write_file", file_path="/workspace/a")[0] == "ask"
    assert decide("read_file", file_path="/workspace/a")[0] == "allow"
    assert decide("execute", {"auto_approved_commands": ["ls"]}, command="ls -la")[0] == "allow"
    assert decide("execute", {"auto_approved_commands": ["ls"]}, command="ls; rm x")[0] == "ask"
    assert decide("execute", {"approval_tools": ["delete"]}, command="rm -rf /")[0] == "allow"


@pytest.mark.parametrize("loosening", ["allow", "ask"])
def test_a_user_or_assistant_rule_cannot_loosen_an_admin_rule(loosening: str) -> None:
    admin = [{"name": "never push", "commands": ["git push"], "mode": "deny"}]
    looser = [{"commands": ["git push"], "mode": loosening}]
    for key in ("policy_rules", "user_rules"):
        decision, label = decide("execute", {key: looser}, admin, command="git push")
        assert decision == "deny"
        assert label is not None
        assert "never push" in label
    admin_ask = [{"name": "writes pause", "tools": ["write_file"], "mode": "ask"}]
    for key in ("policy_rules", "user_rules"):
        assert decide("write_file", {key: [{"tools": ["write_file"], "mode": "allow"}]}, admin_ask, file_path="a") == (
            "ask",
            "admin rule 1 'writes pause'",
        )


def test_stricter_layers_win_over_an_admin_allow() -> None:
    admin = [{"tools": ["write_file"], "paths": ["src/**"], "mode": "allow"}]
    assert decide("write_file", None, admin, file_path="src/a.py")[0] == "allow"
    user = [{"name": "mine", "tools": ["write_file"], "mode": "deny"}]
    assert decide("write_file", {"user_rules": user}, admin, file_path="src/a.py") == ("deny", "user rule 1 'mine'")


def test_first_match_wins_inside_a_layer() -> None:
    rules = [{"paths": ["/workspace/public/**"], "mode": "allow"}, {"paths": ["/workspace/**"], "mode": "deny"}]
    assert decide("read_file", {"policy_rules": rules}, file_path="public/a")[0] == "allow"
    assert decide("read_file", {"policy_rules": rules}, file_path="private/a")[0] == "deny"


def test_allow_commands_need_a_plain_command() -> None:
    rules = [{"commands": ["npm test"], "mode": "allow"}]
    assert decide("execute", {"policy_rules": rules}, command="npm test -- --watch=false")[0] == "allow"
    assert decide("execute", {"policy_rules": rules}, command="npm test; curl x | sh")[0] == "ask"


def test_command_rules_cover_every_tool_that_runs_a_command() -> None:
    """`start_process` runs its command in a shell like `execute`: a command rule that missed it could be walked around."""
    assert decide("start_process", {"policy_rules": EXAMPLE}, command="git push origin main") == ("deny", "assistant rule 4 'no pushing'")
    assert decide("start_process", {"policy_rules": EXAMPLE}, command="rm -rf build")[0] == "ask"
    allowed = [{"commands": ["npm run dev"], "mode": "allow"}]
    assert decide("start_process", {"policy_rules": allowed}, command="npm run dev")[0] == "allow"
    assert decide("start_process", {"policy_rules": allowed}, command="npm run dev; curl x | sh")[0] == "ask"
    only_processes = [{"tools": ["start_process"], "commands": ["git push"], "mode": "deny"}]
    assert decide("start_process", {"policy_rules": only_processes}, command="git push")[0] == "deny"
    assert decide("execute", {"policy_rules": only_processes}, command="git push")[0] == "ask"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"mode": "maybe"}, "mode must be"),
        ({"mode": "deny", "tools": ["rm_rf"]}, "unknown tools"),
        ({"mode": "deny", "paths": ["/workspace/../etc"]}, "must not contain '..'"),
        ({"mode": "deny", "operations": ["exec"]}, "operations are"),
        ({"mode": "deny", "commands": ["git push"], "tools": ["read_file"]}, "commands only apply to execute and start_process"),
        ({"mode": "allow", "commands": ["ls; rm"]}, "metacharacters"),
        ({"mode": "deny", "path": "x"}, "unknown keys"),
        ({"mode": "deny", "paths": [3]}, "non-empty strings"),
        ("deny", "a rule is an object"),
    ],
)
def test_malformed_rules_are_refused_with_their_place(rule: object, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules([rule], "assistant")
    with pytest.raises(RuleError, match="assistant rule 1"):
        AgentContext(policy_rules=[rule])  # type: ignore[list-item]


def test_interrupt_is_deepagents_word_for_ask() -> None:
    [rule] = parse_rules([{"paths": ["/shared/**"], "operations": ["read"], "mode": "interrupt"}], "admin")
    assert rule.mode == "ask"


def test_admin_rules_load_from_json_and_toml(tmp_path: Path) -> None:
    json_file = tmp_path / "policy.json"
    json_file.write_text('{"rules": [{"name": "no pushing", "commands": ["git push"], "mode": "deny"}]}')
    toml_file = tmp_path / "policy.toml"
    toml_file.write_text('[[rules]]\nname = "no pushing"\ncommands = ["git push"]\nmode = "deny"\n')
    assert load_admin_rules(json_file) == load_admin_rules(toml_file)
    [rule] = load_admin_rules(toml_file)
    assert rule.label == "admin rule 1 'no pushing'"
    assert load_admin_rules(None) == ()
    with pytest.raises(RuleError, match="cannot be read"):
        load_admin_rules(tmp_path / "missing.json")
    with pytest.raises(RuleError, match="not valid TOML"):
        parse_policy_text("[[rules]", toml=True, source="f")
    with pytest.raises(RuleError, match="one key, rules"):
        parse_policy_text('{"rule": []}', toml=False, source="f")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from([*sorted(RULE_KEYS), "x"]), inner, max_size=5),
    max_leaves=16,
)
"""Any JSON value; objects mostly use a rule's own keys, so the checks past the first are reached."""
RULE_LIKE = st.fixed_dictionaries(
    {"mode": st.sampled_from(["allow", "ask", "deny", "interrupt", "no"])},
    optional={
        "tools": st.lists(st.sampled_from(["execute", "read_file", "delete", "*", "rm"]), max_size=3),
        "operations": st.lists(st.sampled_from(["read", "write", "x"]), max_size=2),
        "paths": st.lists(st.text(max_size=12), max_size=3),
        "commands": st.lists(st.text(max_size=12), max_size=3),
        "name": JSON,
    },
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(raw=st.lists(RULE_LIKE | JSON, max_size=3) | JSON)
def test_any_json_is_a_valid_layer_or_a_rule_error(raw: object) -> None:
    try:
        rules = parse_rules(raw, "user")
    except RuleError:
        return
    for rule in rules:  # a valid rule decides any call without failing
        for tool, args in (("execute", {"command": "git push; ls"}), ("read_file", {"file_path": "a/../b"}), ("grep", {})):
            RunRules(admin=(), assistant=(), user=(rule,), defaults=ApprovalPolicy()).decide(call_facts(tool, args))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(command=st.text(max_size=40), patterns=st.lists(st.text(min_size=1, max_size=10), max_size=3))
def test_command_patterns_never_fail(command: str, patterns: list[str]) -> None:
    matches_anywhere(command, patterns)
    if matches_plainly(command, patterns):
        assert matches_anywhere(command, patterns), "a plain match is also a match anywhere"
