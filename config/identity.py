"""Who a run belongs to when nobody is signed in."""

from __future__ import annotations

SINGLE_USER_ID = "local"
"""The user id of every run when no authentication is configured (single-user mode).

The sandbox reads a run's user from `configurable["langgraph_auth_user_id"]`, which
the server sets from authentication; when that is absent or empty, the run
belongs to this one fixed user.
"""
