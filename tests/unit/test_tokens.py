"""Token verification and minting with real keys (no server needed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.utils import base64url_encode
from langgraph_sdk import Auth
from starlette.authentication import SimpleUser

from config.auth import AuthSettings
from config.env import SettingsError
from server.auth import refuse_identity_keys, user_namespace
from server.tokens import TokenError, TokenVerifier, bearer_token, mint_token, request_token
from tests.support.auth_keys import AUDIENCE, ISSUER, AuthKeys, claims, ec_key, rsa_key, sign_hs256, sign_with, write_jwks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path) -> AuthKeys:
    return AuthKeys(jwks_file=tmp_path / "jwks.json")


@pytest.fixture
def settings(keys: AuthKeys) -> AuthSettings:
    return AuthSettings(jwt_secret=keys.secret, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_file=keys.jwks_file)


def test_hs256_rs256_and_es256_tokens_name_their_user(keys: AuthKeys, settings: AuthSettings) -> None:
    verifier = TokenVerifier(settings)
    assert verifier.verify(keys.token("user-a")) == "user-a"
    assert verifier.verify(sign_with(keys.rsa, claims("user-b"))) == "user-b"
    assert verifier.verify(sign_with(keys.ec, claims("user-c"))) == "user-c"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda k: "not-a-jwt", "malformed"),
        (lambda k: sign_hs256("y" * 64, claims("user-a")), "signature"),
        (lambda k: sign_hs256(k.secret, claims("user-a", ttl=-3600)), "expired"),
        (lambda k: sign_hs256(k.secret, {key: v for key, v in claims("user-a").items() if key != "exp"}), "'exp'"),
        (lambda k: sign_hs256(k.secret, {key: v for key, v in claims("user-a").items() if key != "sub"}), "'sub'"),
        (lambda k: sign_hs256(k.secret, claims("user-a", issuer="https://evil")), "issuer"),
        (lambda k: sign_hs256(k.secret, claims("user-a", audience="other-app")), "audience"),
        (lambda k: sign_hs256(k.secret, claims("../etc")), "user id"),
        (lambda k: jwt.encode(claims("user-a"), None, algorithm="none"), "algorithm 'none'"),
        # A stranger's RSA key under our kid: the signature does not verify.
        (lambda k: sign_with(rsa_key(), claims("user-a"), kid="rsa-1"), "signature"),
        (lambda k: sign_with(ec_key(), claims("user-a"), kid="unknown-kid"), "kid"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(keys: AuthKeys, settings: AuthSettings, make_token, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        TokenVerifier(settings).verify(make_token(keys))


def test_a_public_key_cannot_be_used_as_an_hmac_secret(keys: AuthKeys) -> None:
    """Algorithm confusion: HS256 "signed" with the RSA public key must not pass when only a JWKS is configured."""
    pem = keys.rsa.private_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = base64url_encode(json.dumps(claims("user-a")).encode())
    signature = base64url_encode(hmac.new(pem, header + b"." + payload, hashlib.sha256).digest())
    token = (header + b"." + payload + b"." + signature).decode()
    only_jwks = AuthSettings(jwks_file=keys.jwks_file, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    with pytest.raises(TokenError, match="algorithm 'HS256' is not accepted"):
        TokenVerifier(only_jwks).verify(token)


def test_the_jwks_file_is_reread_when_keys_rotate(keys: AuthKeys, settings: AuthSettings) -> None:
    verifier = TokenVerifier(settings)
    assert verifier.verify(sign_with(keys.rsa, claims("user-a"))) == "user-a"
    rotated = rsa_key("rsa-2")
    write_jwks(keys.jwks_file, rotated)
    os.utime(keys.jwks_file, ns=(1, 1))  # a different mtime even within the same clock tick
    assert verifier.verify(sign_with(rotated, claims("user-a"))) == "user-a"
    with pytest.raises(TokenError, match="kid"):
        verifier.verify(sign_with(keys.rsa, claims("user-a")))


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   tok ") == "tok"
    for bad in (None, "", "   ", "Basic dXNlcjpwYXNz", "Bearer"):
        with pytest.raises(TokenError):
            bearer_token(bad)


def test_settings_refuse_weak_secrets_and_two_key_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "short")
    with pytest.raises(SettingsError, match="AUTH_JWT_SECRET"):
        AuthSettings.from_env()
    monkeypatch.delenv("AUTH_JWT_SECRET")
    monkeypatch.setenv("AUTH_JWKS_FILE", "/tmp/jwks.json")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://sso.internal/jwks")
    with pytest.raises(SettingsError, match="not both"):
        AuthSettings.from_env()


def test_admins_and_the_metrics_token_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ADMIN_USERS", " alice , bob@corp.example,, ")
    monkeypatch.setenv("METRICS_TOKEN", "m" * 40)
    settings = AuthSettings.from_env()
    assert settings.admin_users == frozenset({"alice", "bob@corp.example"})
    assert settings.metrics_token == "m" * 40
    for raw, words in (("alice,System", "reserved"), ("alice,../x", "not a user id")):
        monkeypatch.setenv("AUTH_ADMIN_USERS", raw)
        with pytest.raises(SettingsError, match="AUTH_ADMIN_USERS") as refused:
            AuthSettings.from_env()
        assert words in str(refused.value)
    monkeypatch.setenv("AUTH_ADMIN_USERS", "alice")
    monkeypatch.setenv("METRICS_TOKEN", "short")
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        AuthSettings.from_env()


def test_single_user_mode_is_described(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_JWT_SECRET", "AUTH_JWKS_FILE", "AUTH_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = AuthSettings.from_env()
    assert not settings.enabled
    assert "single-user" in settings.describe()


def test_mint_token_command_signs_for_the_server(keys: AuthKeys, settings: AuthSettings) -> None:
    env = {"PATH": "/usr/bin:/bin", "AUTH_JWT_SECRET": keys.secret, "AUTH_JWT_ISSUER": ISSUER, "AUTH_JWT_AUDIENCE": AUDIENCE}
    done = subprocess.run(
        [sys.executable, "-m", "server.mint_token", "alice", "--hours", "2"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert TokenVerifier(settings).verify(token) == "alice"
    body = jwt.decode(token, options={"verify_signature": False})
    assert 7000 <= body["exp"] - body["iat"] <= 7200
    refused = subprocess.run(
        [sys.executable, "-m", "server.mint_token", "alice"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "AUTH_JWT_SECRET" in refused.stderr
    with pytest.raises(TokenError, match="user id"):
        mint_token(settings, "a/b", hours=1)


def test_store_namespaces_always_start_with_the_user() -> None:
    assert user_namespace("alice", ("notes",)) == ("alice", "notes")
    assert user_namespace("alice", ("alice", "notes")) == ("alice", "notes")
    assert user_namespace("bob", ("alice", "notes")) == ("bob", "alice", "notes")
    assert user_namespace("alice", None) == ("alice",)


def test_the_token_is_found_as_either_server_passes_headers() -> None:
    # langgraph_api: raw ASGI headers; Aegra: a str dict (given positionally).
    assert request_token({b"authorization": b"Bearer abc", b"accept": b"*/*"}) == "abc"
    assert request_token({"Authorization": "Bearer abc"}) == "abc"
    # agent-chat-ui and deep-agents-ui send the token as an API key (the SDKs' `apiKey` option).
    assert request_token({b"x-api-key": b"abc"}) == "abc"
    assert request_token({"X-Api-Key": " abc ", "x-auth-scheme": "langsmith"}) == "abc"
    # Authorization wins: an SDK also sends `x-api-key` from LANGSMITH_API_KEY in its environment.
    assert request_token({"Authorization": "Bearer abc", "X-Api-Key": "lsv2-other"}) == "abc"
    for missing in ({"accept": "*/*"}, None, {"x-api-key": "  "}):
        with pytest.raises(TokenError, match=r"missing bearer token.*X-Api-Key"):
            request_token(missing)
    with pytest.raises(TokenError, match="Bearer <token>"):
        request_token({"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "abc"})


@pytest.mark.parametrize("crit", [["exp"], ["b64"], "abc", [], [1]])
def test_a_crit_header_is_refused_with_a_reason(keys: AuthKeys, settings: AuthSettings, crit: object) -> None:
    """PyJWT rejects `crit` while reading the header, with an error that is not a DecodeError."""
    token = jwt.encode(claims("user-a"), keys.secret, algorithm="HS256", headers={"crit": crit})
    with pytest.raises(TokenError, match=r"(?i)crit"):
        TokenVerifier(settings).verify(token)


@pytest.mark.parametrize("subject", ["system", "System", "anonymous", "langgraph-studio-user", "local"])
def test_reserved_identities_are_refused(keys: AuthKeys, settings: AuthSettings, subject: str) -> None:
    """Ids the servers or this project treat specially never come from a token, and are never minted."""
    with pytest.raises(TokenError, match="reserved"):
        TokenVerifier(settings).verify(keys.token(subject))
    with pytest.raises(TokenError, match="reserved"):
        mint_token(settings, subject, hours=1)
    assert TokenVerifier(settings).verify(keys.token(f"{subject}-user")) == f"{subject}-user"


def _ctx(user_id: str) -> Auth.types.AuthContext:
    return Auth.types.AuthContext(user=SimpleUser(user_id), permissions=[], resource="threads", action="create_run")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        {"config": {"configurable": {"langgraph_auth_user_id": "bob"}}},
        {"config": {"configurable": {"langgraph_auth_user": {"identity": "bob"}}}},
        {"context": {"langgraph_auth_user_id": "bob"}},
    ],
)
def test_a_client_cannot_name_another_user_for_the_run(value: dict[str, object]) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        refuse_identity_keys(_ctx("alice"), value)
    assert refused.value.status_code == 422


def test_the_callers_own_identity_as_langgraph_api_writes_it_passes() -> None:
    class User:
        identity = "alice"

    written = {"configurable": {"langgraph_auth_user_id": "alice", "langgraph_auth_user": User(), "thread_id": "t"}}
    refuse_identity_keys(_ctx("alice"), {"config": written, "context": {"sandbox_image": "x"}}, None)
