"""Who a run belongs to when nobody is signed in."""

from __future__ import annotations

SINGLE_USER_ID = "local"
"""The user id of every run when no authentication is configured (single-user mode).

The sandbox reads a run's user from what the server sets from authentication (`sandbox.run_context.run_user_id`), which
is absent or empty when no authentication is configured; then the run
belongs to this one fixed user.
"""
