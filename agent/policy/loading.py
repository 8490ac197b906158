"""The administrator's rules: read once from `POLICY_FILE` (JSON or TOML) when the graph is built.

Read at startup, not per run: a typo in the file stops the server with a message
naming the file and the rule, instead of surfacing in some user's run later. A
change takes effect at the next restart.

JSON: `{"rules": [{...}, ...]}`. TOML: `[[rules]]` tables. The shape of a rule
is in `agent.policy.rules` and docs/permissions.md.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

from agent.policy.rules import Rule, RuleError, parse_rules
from config.policy import PolicySettings

logger = logging.getLogger(__name__)


def parse_policy_text(text: str, *, toml: bool, source: str) -> tuple[Rule, ...]:
    """The admin rules in a file's text; raises `RuleError` naming `source`."""
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"{source}: not valid {'TOML' if toml else 'JSON'}: {exc}"
        raise RuleError(msg) from None
    if not isinstance(data, dict) or set(data) - {"rules"}:
        msg = f"{source}: the file holds one key, rules: a list of rule objects"
        raise RuleError(msg)
    try:
        return parse_rules(data.get("rules", []), "admin")
    except RuleError as exc:
        msg = f"{source}: {exc}"
        raise RuleError(msg) from None


def load_admin_rules(path: Path | None) -> tuple[Rule, ...]:
    """The rules of the file at `path` (none without one); raises `RuleError` for a missing or malformed file."""
    if path is None:
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"POLICY_FILE {path}: cannot be read ({exc.strerror or type(exc).__name__})"
        raise RuleError(msg) from None
    return parse_policy_text(text, toml=path.suffix.lower() == ".toml", source=f"POLICY_FILE {path}")


def admin_rules_from_env() -> tuple[Rule, ...]:
    """The rules `POLICY_FILE` names, read now; the startup log says which bound every run."""
    path = PolicySettings.from_env().policy_file
    rules = load_admin_rules(path)
    if path is not None:
        logger.info("Permission policy: %d admin rules from POLICY_FILE %s: %s", len(rules), path, "; ".join(r.label for r in rules))
    return rules
