"""Authentication settings: every `AUTH_*` variable.

No variable set means single-user mode: every request is the user `SINGLE_USER_ID`.
`AUTH_JWT_SECRET` turns on HS256 bearer tokens (minted by `server.mint_token`);
`AUTH_JWKS_FILE` or `AUTH_JWKS_URL` turns on RS256/ES256 tokens from a single
sign-on provider. A secret and a key set may both be set: a token's `alg` picks
the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.env import SettingsError, at_least, env_optional_str, env_path, env_raw, read_settings, setting
from config.identity import SINGLE_USER_ID, USER_ID, is_reserved_user_id

MIN_SECRET_LENGTH = 32
"""Shorter HS256 secrets can be brute-forced offline from one captured token."""


def env_secret(name: str, default: str | None) -> str | None:
    """An HS256 secret of at least `MIN_SECRET_LENGTH` characters, or `default` when unset."""
    raw = env_raw(name)
    if not raw:
        return default
    if len(raw) < MIN_SECRET_LENGTH:
        msg = f"{name} is {len(raw)} characters; use at least {MIN_SECRET_LENGTH} (e.g. `openssl rand -hex 32`)"
        raise SettingsError(msg)
    return raw


def env_optional_path(name: str, default: Path | None) -> Path | None:
    """A file path (relative ones from the project root), or `default` when unset."""
    return env_path(name, Path()) if env_raw(name) else default


def env_url(name: str, default: str | None) -> str | None:
    """An http(s) URL, or `default` when unset."""
    raw = env_raw(name)
    if not raw:
        return default
    if not raw.startswith(("https://", "http://")):
        msg = f"{name}={raw!r} must be an http(s) URL"
        raise SettingsError(msg)
    return raw


def env_user_ids(name: str, default: frozenset[str]) -> frozenset[str]:
    """Comma-separated user ids (blanks between commas ignored), or `default` when unset; reserved ids are refused."""
    raw = env_raw(name)
    if not raw:
        return default
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for user_id in sorted(ids):
        if not USER_ID.fullmatch(user_id):
            msg = f"{name} names {user_id!r}, which is not a user id (1-128 letters, digits or '_.@+-', starting with a letter or digit)"
            raise SettingsError(msg)
        if is_reserved_user_id(user_id):
            msg = f"{name} names {user_id!r}, an id reserved for the servers themselves; no token can carry it"
            raise SettingsError(msg)
    return ids


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the server; build with `AuthSettings.from_env()`."""

    jwt_secret: str | None = setting("AUTH_JWT_SECRET", env_secret, None)
    """Shared HS256 secret (at least 32 characters) for bearer tokens; set, it turns multi-user mode on.
    Unset (and no JWKS): single-user mode."""
    jwt_issuer: str | None = setting("AUTH_JWT_ISSUER", env_optional_str, None)
    """When set, a token's `iss` must equal it."""
    jwt_audience: str | None = setting("AUTH_JWT_AUDIENCE", env_optional_str, None)
    """When set, a token's `aud` must contain it."""
    jwks_file: Path | None = setting("AUTH_JWKS_FILE", env_optional_path, None)
    """JSON Web Key Set file of a single sign-on provider (RS256/ES256; works offline; re-read on change)."""
    jwks_url: str | None = setting("AUTH_JWKS_URL", env_url, None)
    """The provider's JWKS URL instead of a file (not both)."""
    jwks_cache_seconds: int = setting("AUTH_JWKS_CACHE_SECONDS", at_least(1), 300)
    """Seconds keys fetched from `AUTH_JWKS_URL` are reused."""
    admin_users: frozenset[str] = setting("AUTH_ADMIN_USERS", env_user_ids, frozenset())
    """User ids (comma-separated) of admins: assistants they create are seen and used by every user
    (everyone else's are private to their creator), and they may read `/metrics`. Reserved ids are refused."""
    metrics_token: str | None = setting("METRICS_TOKEN", env_secret, None)
    """A bearer token (at least 32 characters) that reads `/metrics` and nothing else, for a scraper without a user."""

    def __post_init__(self) -> None:
        if self.jwks_file is not None and self.jwks_url is not None:
            msg = "set AUTH_JWKS_FILE or AUTH_JWKS_URL, not both"
            raise SettingsError(msg)

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
        admins = f"; admins: {', '.join(sorted(self.admin_users))}" if self.admin_users else "; no admins (AUTH_ADMIN_USERS)"
        return f"authentication is ON: {'; '.join(kinds)}{suffix}; every thread, run, cron and store item belongs to its creator{admins}"

    @classmethod
    def from_env(cls) -> AuthSettings:
        """Read `AUTH_*` (and the project's `.env`, `config.env`); raise `SettingsError` naming a bad variable."""
        return read_settings(cls)
