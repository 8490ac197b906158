"""The start command's last line: the address to open and how to sign in."""

from __future__ import annotations

from config.auth import AuthSettings
from server.client_address import announcement, client_url


def test_a_wildcard_host_is_opened_through_loopback() -> None:
    assert client_url("0.0.0.0", 8123) == "http://127.0.0.1:8123/app/"
    assert client_url("::", 2024) == "http://127.0.0.1:2024/app/"
    assert client_url("192.168.1.5", 2024) == "http://192.168.1.5:2024/app/"
    assert client_url("::1", 2024) == "http://[::1]:2024/app/"


def test_the_hint_follows_the_auth_settings() -> None:
    url = "http://127.0.0.1:2024/app/"
    assert announcement(url, AuthSettings()) == f"Web client: {url} (single-user mode, no sign-in)"
    secret = AuthSettings(jwt_secret="s" * 32)
    assert "python -m server.mint_token <user-id>" in announcement(url, secret)
    sso = AuthSettings(jwks_url="https://sso.example/jwks")
    assert announcement(url, sso).endswith("(sign in with a token from your single sign-on provider)")
