"""Bearer tokens: verify one into a user id, or mint one (HS256) for the admin command.

Verification accepts exactly the algorithms the configuration allows (HS256 with
`AUTH_JWT_SECRET`, RS256/ES256 with a JWKS), so a token can never pick a weaker
check (`none`, or an RSA public key used as an HMAC secret). Every failure is a
`TokenError` whose message is safe to return to the client in the 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from config.auth import AuthSettings
from config.identity import USER_ID, is_reserved_user_id

SECRET_ALGORITHMS = ("HS256",)
KEY_SET_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30
"""Clock skew tolerated on `exp`, `nbf` and `iat` between the token's issuer and this server."""

JWKS_FETCH_TIMEOUT = 10.0
"""Seconds to wait for `AUTH_JWKS_URL`; a slow provider must not hang every request."""


class TokenError(Exception):
    """The request's token is missing, malformed, forged, expired or for someone else."""


def validate_user_id(user_id: object) -> str:
    """The user id, or `TokenError` when it could not safely name a user's folders."""
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        msg = "token subject ('sub') is not a usable user id: use 1-128 letters, digits or '_.@+-', starting with a letter or digit"
        raise TokenError(msg)
    if is_reserved_user_id(user_id):
        msg = f"token subject ('sub') {user_id!r} is reserved: the servers or single-user mode use it for themselves; use another user id"
        raise TokenError(msg)
    return user_id


@dataclass
class _CachedKeySet:
    mtime_ns: int
    keys: PyJWKSet


class _KeyFile:
    """A JWKS on disk, re-read when the file changes (so keys rotate without a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: _CachedKeySet | None = None
        self._lock = threading.Lock()

    def keys(self) -> PyJWKSet:
        try:
            mtime_ns = self.path.stat().st_mtime_ns
        except OSError as exc:
            msg = f"the server cannot read AUTH_JWKS_FILE ({exc.strerror})"
            raise TokenError(msg) from None
        with self._lock:
            if self._cached is None or self._cached.mtime_ns != mtime_ns:
                try:
                    keys = PyJWKSet.from_json(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError, jwt.PyJWKSetError) as exc:
                    msg = f"the server's AUTH_JWKS_FILE holds no usable key set ({exc})"
                    raise TokenError(msg) from None
                self._cached = _CachedKeySet(mtime_ns, keys)
            return self._cached.keys


class TokenVerifier:
    """Turns a bearer token into its user id, as `AuthSettings` says.

    `verify` may read the JWKS file or fetch `AUTH_JWKS_URL`, so async callers run
    it in a worker thread; an HS256-only verifier never does I/O.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._key_file = _KeyFile(settings.jwks_file) if settings.jwks_file else None
        self._key_client = (
            PyJWKClient(settings.jwks_url, cache_jwk_set=True, lifespan=settings.jwks_cache_seconds, timeout=JWKS_FETCH_TIMEOUT)
            if settings.jwks_url
            else None
        )

    @property
    def does_io(self) -> bool:
        """Whether `verify` may touch the disk or the network (then call it off the event loop)."""
        return self._key_file is not None or self._key_client is not None

    def accepted_algorithms(self) -> tuple[str, ...]:
        """The `alg` values a token may carry here."""
        algorithms: tuple[str, ...] = SECRET_ALGORITHMS if self.settings.jwt_secret else ()
        if self.does_io:
            algorithms += KEY_SET_ALGORITHMS
        return algorithms

    def _signing_key(self, token: str, header: dict[str, Any]) -> PyJWK:
        kid = header.get("kid")
        if self._key_client is not None:
            try:
                return self._key_client.get_signing_key_from_jwt(token) if kid else self._only_key(self._key_client.get_jwk_set(), header)
            except jwt.PyJWKClientConnectionError as exc:
                msg = f"the server could not fetch signing keys from AUTH_JWKS_URL ({exc})"
                raise TokenError(msg) from None
            except jwt.PyJWKClientError as exc:
                msg = f"no signing key matches this token ({exc})"
                raise TokenError(msg) from None
        assert self._key_file is not None
        keys = self._key_file.keys()
        if kid is None:
            return self._only_key(keys, header)
        try:
            return keys[str(kid)]
        except KeyError:
            msg = f"no signing key with kid {kid!r} in AUTH_JWKS_FILE"
            raise TokenError(msg) from None

    @staticmethod
    def _only_key(keys: PyJWKSet, header: dict[str, Any]) -> PyJWK:
        """A token without `kid` is only accepted when exactly one key fits its algorithm."""
        fitting = [key for key in keys if key.algorithm_name == header.get("alg")]
        if len(fitting) != 1:
            msg = "token has no 'kid' header and the key set does not have exactly one key for its algorithm"
            raise TokenError(msg)
        return fitting[0]

    def verify(self, token: str) -> str:
        """The token's user id (`sub`); `TokenError` with a client-safe reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            msg = "malformed bearer token: expected a JWT (header.payload.signature)"
            raise TokenError(msg) from None
        except jwt.InvalidTokenError as exc:
            # PyJWT checks the `crit` header while reading it; no extension is supported here.
            msg = f"invalid bearer token header: {exc}"
            raise TokenError(msg) from None
        algorithm = header.get("alg")
        accepted = self.accepted_algorithms()
        if algorithm not in accepted:
            msg = f"token algorithm {algorithm!r} is not accepted by this server (accepted: {', '.join(accepted)})"
            raise TokenError(msg)
        key: str | PyJWK = (self.settings.jwt_secret or "") if algorithm in SECRET_ALGORITHMS else self._signing_key(token, header)
        audience = self.settings.jwt_audience
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.settings.jwt_issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError:
            msg = "token has expired: ask for a new one"
            raise TokenError(msg) from None
        except jwt.InvalidSignatureError:
            msg = "token signature is not valid for this server"
            raise TokenError(msg) from None
        except jwt.MissingRequiredClaimError as exc:
            msg = f"token has no {exc.claim!r} claim (tokens need 'sub' and 'exp')"
            raise TokenError(msg) from None
        except jwt.InvalidIssuerError:
            msg = "token issuer ('iss') is not AUTH_JWT_ISSUER"
            raise TokenError(msg) from None
        except jwt.InvalidAudienceError:
            msg = "token audience ('aud') does not include AUTH_JWT_AUDIENCE"
            raise TokenError(msg) from None
        except jwt.ImmatureSignatureError:
            msg = "token is not valid yet ('nbf' or 'iat' is in the future)"
            raise TokenError(msg) from None
        except jwt.InvalidTokenError as exc:
            msg = f"invalid bearer token: {exc}"
            raise TokenError(msg) from None
        return validate_user_id(claims.get("sub"))


def mint_token(settings: AuthSettings, user_id: str, *, hours: float, now: float | None = None) -> str:
    """An HS256 token for `user_id`, valid for `hours`, signed with `AUTH_JWT_SECRET`."""
    if not settings.jwt_secret:
        msg = "AUTH_JWT_SECRET is not set: there is no key to sign tokens with"
        raise TokenError(msg)
    if hours <= 0:
        msg = "a token must be valid for a positive number of hours"
        raise TokenError(msg)
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": validate_user_id(user_id), "iat": issued, "exp": issued + int(hours * 3600)}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


MISSING_TOKEN = (
    "missing bearer token: send 'Authorization: Bearer <token>' or 'X-Api-Key: <token>' "  # noqa: S105 - a message, not a password
    "(an admin mints one with `python -m server.mint_token <user>`)"
)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; `TokenError` when absent or another scheme."""
    if not authorization or not authorization.strip():
        raise TokenError(MISSING_TOKEN)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        msg = "the Authorization header must be 'Bearer <token>'"
        raise TokenError(msg)
    return token.strip()


def header_value(headers: Mapping[Any, Any] | None, name: str) -> str | None:
    """Header `name` (lower case) from a request's headers, as either server passes them.

    langgraph_api passes the raw ASGI headers (`bytes` names and values); Aegra and
    Starlette's `Headers` give `str` ones.
    """
    for key, value in (headers or {}).items():
        text_name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if text_name.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def request_token(headers: Mapping[Any, Any] | None) -> str:
    """The token a request carries: `Authorization: Bearer <token>`, else `X-Api-Key: <token>`.

    `X-Api-Key` is how the LangGraph SDKs send their `apiKey` option, and the only
    header agent-chat-ui and deep-agents-ui send. `Authorization` wins when both are
    there: an SDK also sends `X-Api-Key` on its own from `LANGSMITH_API_KEY` or
    `LANGGRAPH_API_KEY` in its environment, which is not a token of this server.
    """
    authorization = header_value(headers, "authorization")
    if authorization is not None and authorization.strip():
        return bearer_token(authorization)
    api_key = (header_value(headers, "x-api-key") or "").strip()
    if not api_key:
        raise TokenError(MISSING_TOKEN)
    return api_key
