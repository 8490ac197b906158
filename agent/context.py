"""Per-run context: what a client (or a LangGraph assistant) may set for one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.approval_policy import ApprovalPolicy
from agent.policy.rules import parse_rules
from config.mcp import enabled_mcp_servers


@dataclass
class AgentContext:
    """Runtime context of the `agent` graph.

    Attributes:
        sandbox_image: Run this thread's commands in another image than
            `SANDBOX_IMAGE` (for example one with Node.js). Only images an
            administrator lists in `SANDBOX_ALLOWED_IMAGES` are accepted (a run
            naming another gets 422), they must already be on the host (never
            pulled for a run), their ENTRYPOINT is ignored, and they never widen
            the sandbox's limits. In session mode it takes effect when the
            thread's container is created.
        approval_tools: The tools that pause for a human's approval. Default
            (`None`): `execute`, `write_file`, `edit_file` and `delete`. Set it
            on an assistant; the sandbox stays the security boundary whatever
            it says.
        auto_approved_commands: Read-only commands `execute` runs without
            approval, e.g. `["ls", "cat", "git status", "git diff"]`. A command
            matches when its words start with an entry's words and it has no
            shell metacharacter (`;`, `&`, `|`, `$(`, backticks, `<`, `>`,
            newlines), so `ls; rm -rf x` still pauses.
        policy_rules: The assistant's permission rules (docs/permissions.md):
            allow / ask / deny per tool, path glob or command pattern, first
            match wins. They can only make a call stricter than the
            administrator's `POLICY_FILE` allows. Only an assistant may set them.
        user_rules: Rules of one run, set by whoever starts it, in the same
            shape: like every layer, they can only make a call stricter than
            the other layers' verdicts (a user's `allow` never loosens an
            administrator's or an assistant's `ask` or `deny`).
        mcp_servers: Which of the administrator's MCP servers (`MCP_SERVERS_FILE`,
            docs/mcp.md) this assistant's agent gets, by name. Default (`None`):
            all of them; `[]`: none. It only narrows the administrator's list: a
            name the file does not list gives nothing. Only an assistant may set it.

    """

    sandbox_image: str | None = None
    approval_tools: list[str] | None = None
    auto_approved_commands: list[str] | None = None
    policy_rules: list[dict[str, Any]] | None = None
    user_rules: list[dict[str, Any]] | None = None
    mcp_servers: list[str] | None = None

    def __post_init__(self) -> None:
        """Refuse a malformed approval policy or rule when the run starts, not at the first tool call."""
        ApprovalPolicy.from_context(self)
        enabled_mcp_servers(self)
        parse_rules(self.policy_rules, "assistant")
        parse_rules(self.user_rules, "user")
