"""Real signing keys for auth tests: an HS256 secret, and RSA / EC key pairs published as a JWKS file.

Tests sign tokens the way a single sign-on provider would (private key, `kid`
header) and hand the server only the public JWKS, exactly as in production.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://sso.test.internal"
AUDIENCE = "deepagents-test"
ADMIN_USER = "admin-1"
"""The one user named in the test servers' `AUTH_ADMIN_USERS`."""


@dataclass
class SigningKey:
    """A private key with its `kid` and JWS algorithm."""

    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, the way a provider's JWKS publishes it."""
        to_jwk = RSAAlgorithm.to_jwk if self.algorithm == "RS256" else ECAlgorithm.to_jwk
        jwk = to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def rsa_key(kid: str = "rsa-1") -> SigningKey:
    """A fresh 2048-bit RSA key (RS256)."""
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "ec-1") -> SigningKey:
    """A fresh P-256 key (ES256)."""
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    """Publish the keys' public halves as a JWKS file."""
    path.write_text(json.dumps({"keys": [key.public_jwk() for key in keys]}), encoding="utf-8")
    return path


def claims(
    user_id: str, *, ttl: float = 3600, issuer: str | None = ISSUER, audience: str | None = AUDIENCE, **extra: Any
) -> dict[str, Any]:
    """Standard claims for `user_id`, expiring `ttl` seconds from now (negative: already expired)."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + int(ttl)}
    if issuer is not None:
        body["iss"] = issuer
    if audience is not None:
        body["aud"] = audience
    return {**body, **extra}


def sign_with(key: SigningKey, body: dict[str, Any], *, kid: str | None = None) -> str:
    """A token signed by `key` (with its `kid` unless another is given)."""
    return jwt.encode(body, key.private_key, algorithm=key.algorithm, headers={"kid": kid or key.kid})


def sign_hs256(secret: str, body: dict[str, Any]) -> str:
    """A token signed with an HS256 secret."""
    return jwt.encode(body, secret, algorithm="HS256")


@dataclass
class AuthKeys:
    """Everything an auth-enabled test server is configured with."""

    jwks_file: Path
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    rsa: SigningKey = field(default_factory=rsa_key)
    ec: SigningKey = field(default_factory=ec_key)
    metrics_token: str = field(default_factory=lambda: secrets.token_hex(24))

    def __post_init__(self) -> None:
        write_jwks(self.jwks_file, self.rsa, self.ec)

    def env(self) -> dict[str, str]:
        """`AUTH_*` variables for the server."""
        return {
            "AUTH_JWT_SECRET": self.secret,
            "AUTH_JWKS_FILE": str(self.jwks_file),
            "AUTH_JWT_ISSUER": ISSUER,
            "AUTH_JWT_AUDIENCE": AUDIENCE,
            "AUTH_ADMIN_USERS": f" {ADMIN_USER} , ",
            "METRICS_TOKEN": self.metrics_token,
        }

    def token(self, user_id: str, *, ttl: float = 3600) -> str:
        """A valid HS256 token for `user_id`."""
        return sign_hs256(self.secret, claims(user_id, ttl=ttl))
