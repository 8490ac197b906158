"""The web client's own file actions ask the permission policy too: a path its rules deny is refused (403).

The owner acts by hand, so nothing pauses for approval here; but a path the
administrator's rules (`POLICY_FILE`) deny to the agent's file tools is not
one the panel may change either, or the panel would be the way around them. Each action
is matched as the agent's tool with the same effect, paths resolved by the same
walk (`agent.policy`):

- upload `path`: `write_file path`;
- delete `path`: `delete path` (a folder: everything in it);
- rename `path` to `to`: `delete path` and `write_file to`.

Only `deny` counts: `ask` is for the agent's calls, and here the person who
would answer is the one acting. An assistant's or a run's rules belong to runs,
not to the panel.
"""

from __future__ import annotations

import asyncio
from functools import cache

from agent.policy.enforcement import ToolPolicy
from agent.policy.loading import admin_rules_from_env
from agent.policy.rules import Rule
from sandbox import DockerSandbox
from server.thread_access import ThreadAccessError

ACTIONS = {"upload": (("write_file", "path"),), "delete": (("delete", "path"),), "rename": (("delete", "path"), ("write_file", "to"))}
"""Each panel action as the agent tool calls with the same effect: `(tool, which path)`."""


@cache
def _admin_rules() -> tuple[Rule, ...]:
    """Read once per process, like the graph's (a malformed file already stopped the server at startup)."""
    return admin_rules_from_env()


def _denial(box: DockerSandbox, action: str, paths: dict[str, str]) -> str | None:
    policy = ToolPolicy(_admin_rules(), box)
    for tool, which in ACTIONS[action]:
        verdict = policy.decide({"name": tool, "args": {"file_path": paths[which]}}, {})
        if verdict.decision == "deny" and verdict.rule is not None:
            return f"{paths[which]}: refused by the permission policy: {verdict.rule.label} says {verdict.rule.summary()}"
    return None


async def refuse_denied(box: DockerSandbox, action: str, **paths: str) -> None:
    """Raise a 403 naming the rule when the administrator's rules deny this action on these paths."""
    if not _admin_rules():
        return
    if (denial := await asyncio.to_thread(_denial, box, action, paths)) is not None:
        raise ThreadAccessError(403, denial)
