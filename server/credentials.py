"""Headers -> user id: the one place a request's credential is turned into who is asking.

The `@auth.authenticate` handler of `server.auth` (every LangGraph API request, on
both servers) and every route and middleware of our own `http.app` call
`authenticate_headers`, so the same token means the same user everywhere, with the
same 401 reasons. A token travels as `Authorization: Bearer <token>` or as
`X-Api-Key: <token>` (`server.tokens.request_token`); with no `AUTH_*` configured
every request is the single user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth

from config.auth import AuthSettings
from config.identity import SINGLE_USER_ID
from server.tokens import TokenError, TokenVerifier, request_token

logger = logging.getLogger(__name__)

SETTINGS = AuthSettings.from_env()
_VERIFIER = TokenVerifier(SETTINGS) if SETTINGS.enabled else None


def unauthorized(reason: str) -> Auth.exceptions.HTTPException:
    """The 401 every refused credential gets: the reason (never the token) and a `WWW-Authenticate` challenge."""
    return Auth.exceptions.HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


async def authenticate_headers(headers: Mapping[Any, Any] | None) -> str:
    """The user id a request's headers prove; `Auth.exceptions.HTTPException(401)` with the reason otherwise."""
    if _VERIFIER is None:
        return SINGLE_USER_ID
    try:
        token = request_token(headers)
        if _VERIFIER.does_io:
            return await asyncio.to_thread(_VERIFIER.verify, token)
        return _VERIFIER.verify(token)
    except TokenError as exc:
        raise unauthorized(str(exc)) from None


def is_admin(user_id: str) -> bool:
    """Whether `user_id` is named in `AUTH_ADMIN_USERS` (never true in single-user mode)."""
    return SETTINGS.enabled and user_id in SETTINGS.admin_users
