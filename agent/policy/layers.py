"""Layering: the administrator's rules bound everything; assistants and users can only be stricter.

Three layers of rules, each a list where the first matching rule wins
(deepagents' order):

1. `admin`: the file `POLICY_FILE` names (`agent.policy.loading`);
2. `assistant`: the assistant's context, `policy_rules` (only an assistant may set it);
3. `user`: the run's context, `user_rules` (any run may set it).

Each layer whose rules match the call has an opinion; **the strictest opinion
wins** (allow < ask < deny). So a user's or an assistant's `allow` never
loosens an admin `ask` or `deny`, and an admin `allow` does not stop an
assistant or a user from asking or refusing. A layer with no matching rule has
no opinion. When no layer has one, the assistant's approval defaults decide:
`approval_tools` (default `execute`, `write_file`, `edit_file`, `delete`) ask,
the other tools are allowed, and `execute` commands on `auto_approved_commands`
are allowed (`agent.approval_policy`). That is exactly today's behaviour for an
assistant without rules, and lets any layer's `allow` say "writes under `src/`
need no approval".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.approval_policy import ApprovalPolicy
from agent.policy.matching import CallFacts, first_match
from agent.policy.rules import SEVERITY, Mode, Rule, parse_rules

ASSISTANT_KEY = "policy_rules"
"""Context key of the assistant's rules (like `approval_tools`, an assistant's only)."""
USER_KEY = "user_rules"
"""Context key of a run's own rules: they may only make calls stricter, so any run may set them."""
DEFAULTS_LABEL = "approval defaults"


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one call: the decision, and the rule that made it (None: the defaults)."""

    decision: Mode
    rule: Rule | None = None
    layer: str = DEFAULTS_LABEL

    def to_json(self) -> dict[str, Any]:
        """What the state records, and the reviewer and the refusal show."""
        shown: dict[str, Any] = {"decision": self.decision, "layer": self.layer}
        if self.rule is not None:
            shown.update(self.rule.to_json())
        return shown


def _context_value(context: object, key: str) -> Any:
    if isinstance(context, Mapping):
        return context.get(key)
    return getattr(context, key, None)


@dataclass(frozen=True)
class RunRules:
    """The layers of one run: the admin's, and the ones its context sets."""

    admin: tuple[Rule, ...]
    assistant: tuple[Rule, ...]
    user: tuple[Rule, ...]
    defaults: ApprovalPolicy

    @classmethod
    def of(cls, admin: tuple[Rule, ...], context: object) -> RunRules:
        """The run's layers; raises `RuleError` / `TypeError` for malformed context rules."""
        return cls(
            admin=admin,
            assistant=parse_rules(_context_value(context, ASSISTANT_KEY), "assistant"),
            user=parse_rules(_context_value(context, USER_KEY), "user"),
            defaults=ApprovalPolicy.from_context(context if context is not None else {}),
        )

    @property
    def match_paths(self) -> bool:
        """Whether any rule names paths: only then are a call's paths worth resolving on disk."""
        return any(rule.paths for rule in (*self.admin, *self.assistant, *self.user))

    def decide(self, facts: CallFacts) -> Verdict:
        """The strictest opinion of the layers, or the approval defaults when none has one."""
        opinions = [
            Verdict(rule.mode, rule, layer)
            for layer, rules in (("admin", self.admin), ("assistant", self.assistant), ("user", self.user))
            if (rule := first_match(rules, facts)) is not None
        ]
        if opinions:
            return max(opinions, key=lambda verdict: SEVERITY[verdict.decision])
        command = {"command": facts.command} if facts.command is not None else {}
        return Verdict("ask" if self.defaults.needs_approval(facts.tool, command) else "allow")
