"""Authentication configuration, read once from `AUTH_*` environment variables.

No variable set means single-user mode: every request is the user `SINGLE_USER_ID`.
`AUTH_JWT_SECRET` turns on HS256 bearer tokens (minted by `server.mint_token`);
`AUTH_JWKS_FILE` or `AUTH_JWKS_URL` turns on RS256/ES256 tokens from a single
sign-on provider. Both may be set at once: a token's `alg` picks the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from config.identity import SINGLE_USER_ID

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout holding `langgraph.json` and the optional `.env`."""

MIN_SECRET_LENGTH = 32
"""Shorter HS256 secrets can be brute-forced offline from one captured token."""


class AuthSettingsError(ValueError):
    """An `AUTH_*` variable holds a value we cannot use; the message names it."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the server; build with `AuthSettings.from_env()`.

    Attributes:
        jwt_secret: `AUTH_JWT_SECRET`, the shared HS256 key (at least 32 characters).
        jwt_issuer: `AUTH_JWT_ISSUER`; when set, a token's `iss` must equal it.
        jwt_audience: `AUTH_JWT_AUDIENCE`; when set, a token's `aud` must contain it.
        jwks_file: `AUTH_JWKS_FILE`, a JSON Web Key Set on disk (works offline).
        jwks_url: `AUTH_JWKS_URL`, the provider's JWKS endpoint (keys cached for
            `jwks_cache_seconds`).
        jwks_cache_seconds: `AUTH_JWKS_CACHE_SECONDS`, how long fetched keys are reused.

    """

    jwt_secret: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: int = 300

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a token (False: single-user mode)."""
        return bool(self.jwt_secret or self.jwks_file or self.jwks_url)

    def describe(self) -> str:
        """One line for the startup log: which mode the server runs in."""
        if not self.enabled:
            return (
                f"authentication is OFF: single-user mode, every request acts as user {SINGLE_USER_ID!r}. "
                "Set AUTH_JWT_SECRET (or AUTH_JWKS_FILE / AUTH_JWKS_URL) to require bearer tokens."
            )
        kinds = []
        if self.jwt_secret:
            kinds.append("HS256 tokens signed with AUTH_JWT_SECRET")
        if self.jwks_file:
            kinds.append(f"RS256/ES256 tokens checked against {self.jwks_file}")
        if self.jwks_url:
            kinds.append(f"RS256/ES256 tokens checked against {self.jwks_url}")
        checks = [f"{claim}={value!r}" for claim, value in (("iss", self.jwt_issuer), ("aud", self.jwt_audience)) if value]
        suffix = f" ({', '.join(checks)})" if checks else ""
        return f"authentication is ON: {'; '.join(kinds)}{suffix}; every thread, run, cron and store item belongs to its creator"

    @classmethod
    def from_env(cls) -> AuthSettings:
        """Read `AUTH_*` (after the project's `.env`); raise `AuthSettingsError` naming a bad variable."""
        load_dotenv(PROJECT_ROOT / ".env")
        secret = _env("AUTH_JWT_SECRET")
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            msg = f"AUTH_JWT_SECRET is {len(secret)} characters; use at least {MIN_SECRET_LENGTH} (e.g. `openssl rand -hex 32`)"
            raise AuthSettingsError(msg)
        jwks_file_raw, jwks_url = _env("AUTH_JWKS_FILE"), _env("AUTH_JWKS_URL")
        if jwks_file_raw and jwks_url:
            msg = "set AUTH_JWKS_FILE or AUTH_JWKS_URL, not both"
            raise AuthSettingsError(msg)
        jwks_file = None
        if jwks_file_raw:
            path = Path(jwks_file_raw).expanduser()
            jwks_file = (path if path.is_absolute() else PROJECT_ROOT / path).resolve()
        if jwks_url and not jwks_url.startswith(("https://", "http://")):
            msg = f"AUTH_JWKS_URL={jwks_url!r} must be an http(s) URL"
            raise AuthSettingsError(msg)
        raw_cache = _env("AUTH_JWKS_CACHE_SECONDS")
        cache_seconds = cls.jwks_cache_seconds
        if raw_cache is not None:
            try:
                cache_seconds = int(raw_cache)
            except ValueError:
                msg = f"AUTH_JWKS_CACHE_SECONDS={raw_cache!r} is not a whole number"
                raise AuthSettingsError(msg) from None
            if cache_seconds < 1:
                msg = f"AUTH_JWKS_CACHE_SECONDS={cache_seconds} must be at least 1"
                raise AuthSettingsError(msg)
        return cls(
            jwt_secret=secret,
            jwt_issuer=_env("AUTH_JWT_ISSUER"),
            jwt_audience=_env("AUTH_JWT_AUDIENCE"),
            jwks_file=jwks_file,
            jwks_url=jwks_url,
            jwks_cache_seconds=cache_seconds,
        )
