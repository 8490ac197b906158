"""Who a run belongs to when nobody is signed in, and which user ids no token may claim."""

from __future__ import annotations

import re

SINGLE_USER_ID = "local"
"""The user id of every run when no authentication is configured (single-user mode).

The sandbox reads a run's user from what the server sets from authentication (`sandbox.runs.run_context.run_user_id`), which
is absent or empty when no authentication is configured; then the run
belongs to this one fixed user.
"""

USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
"""What a user id may look like: it names folders and container labels further down."""

RESERVED_USER_IDS = frozenset({"system", "anonymous", "langgraph-studio-user", SINGLE_USER_ID})
"""Ids the servers or this project give a meaning of their own, so no token may claim them (compared case-insensitively).

- `system`: both servers' built-in assistants are created by it (langgraph_api stamps
  `created_by: system`; Aegra stores `user_id = "system"` and shows those rows to every user);
- `anonymous`: Aegra's identity for every request when no auth is configured;
- `langgraph-studio-user`: langgraph_api's identity for Studio's own sign-in;
- `local` (`SINGLE_USER_ID`): everything made in single-user mode belongs to it, so a token for it
  would inherit those threads, memories and workspaces once auth is switched on.
"""


def is_reserved_user_id(user_id: str) -> bool:
    """Whether `user_id` is one of `RESERVED_USER_IDS`, in any letter case."""
    return user_id.casefold() in RESERVED_USER_IDS
