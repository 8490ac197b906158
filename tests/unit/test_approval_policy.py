"""The approval policy: which calls pause, and which commands an allow-list lets through."""

from __future__ import annotations

import pytest

from agent.approval_policy import GATED_BY_DEFAULT, ApprovalPolicy, command_is_auto_approved
from agent.context import AgentContext

ALLOWED = ("ls", "cat", "git status", "git diff")


@pytest.mark.parametrize(
    "command", ["ls", "ls -la /workspace", "  ls  ", "cat a.txt b.txt", "git status", "git status -s", "git diff HEAD~1"]
)
def test_plain_read_only_commands_match(command: str) -> None:
    assert command_is_auto_approved(command, ALLOWED)


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf x",
        "ls; rm -rf x",
        "ls && rm x",
        "ls & rm x",
        "ls | sh",
        "ls || rm x",
        "cat $(rm x)",
        "cat `rm x`",
        "cat a > b",
        "cat < /etc/passwd",
        "ls\nrm x",
        "ls\rrm x",
        "git",
        "git statusx",
        "git push",
        "lsblk",
        "FOO=1 ls",
        "",
        "   ",
    ],
)
def test_everything_else_does_not_match(command: str) -> None:
    assert not command_is_auto_approved(command, ALLOWED)


def test_default_policy_gates_the_four_tools_and_nothing_else() -> None:
    policy = ApprovalPolicy.from_context(AgentContext())
    assert policy.approval_tools == GATED_BY_DEFAULT
    assert all(policy.needs_approval(tool, {"command": "ls"}) for tool in GATED_BY_DEFAULT)
    assert not any(policy.needs_approval(tool, {}) for tool in ("ls", "read_file", "glob", "grep", "task"))


def test_allow_list_only_applies_to_execute() -> None:
    policy = ApprovalPolicy.from_context({"auto_approved_commands": ["ls"]})
    assert not policy.needs_approval("execute", {"command": "ls -la"})
    assert policy.needs_approval("execute", {"command": "ls; rm -rf x"})
    assert policy.needs_approval("execute", {"command": "rm x"})
    assert policy.needs_approval("execute", {})
    assert policy.needs_approval("write_file", {"command": "ls"})


def test_an_assistant_can_choose_its_tools() -> None:
    policy = ApprovalPolicy.from_context(AgentContext(approval_tools=["delete"]))
    assert policy.needs_approval("delete", {})
    assert not policy.needs_approval("execute", {"command": "rm -rf x"})


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"approval_tools": ["rm_rf"]}, "unknown tools"),
        ({"approval_tools": "execute"}, "list of strings"),
        ({"auto_approved_commands": ["ls; rm"]}, "metacharacter"),
        ({"auto_approved_commands": [""]}, "non-empty strings"),
        ({"auto_approved_commands": [3]}, "non-empty strings"),
    ],
)
def test_malformed_policies_are_refused_when_the_context_is_built(context: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        AgentContext(**context)


def test_start_process_follows_the_same_allow_list_as_execute() -> None:
    policy = ApprovalPolicy(auto_approved_commands=("ls",))
    assert not policy.needs_approval("start_process", {"command": "ls -la"})
    assert policy.needs_approval("start_process", {"command": "python3 -m http.server 8000"})
    assert policy.needs_approval("start_process", {"command": "ls; rm -rf /workspace"})
    assert ApprovalPolicy().needs_approval("start_process", {"command": "ls"})
