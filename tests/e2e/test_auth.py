"""Authentication on a real `langgraph dev`: bearer tokens or 401, and the approval flow with auth on."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import sdk_client
from tests.support.auth_keys import ISSUER, claims, ec_key, rsa_key, sign_hs256, sign_with
from tests.support.e2e_servers import AuthServer
from tests.support.hello_flow import write_then_execute_with_approvals as hello_flow
from tests.support.langgraph_server import REPO_ROOT, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _search_threads(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/threads/search", json={}, headers=headers, timeout=30)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_token_get_401_with_a_reason(auth_server: AuthServer) -> None:
    keys, url = auth_server.keys, auth_server.url
    cases = {
        "no token": ({}, "missing bearer token"),
        "not a bearer header": ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer <token>"),
        "malformed": (_bearer("not.a.jwt"), "malformed"),
        "wrong signature": (_bearer(sign_hs256("z" * 64, claims("user-a"))), "signature"),
        "expired": (_bearer(keys.token("user-a", ttl=-600)), "expired"),
        "wrong issuer": (_bearer(sign_hs256(keys.secret, claims("user-a", issuer="https://elsewhere"))), "issuer"),
        "unknown signing key": (_bearer(sign_with(rsa_key(), claims("user-a"))), "signature"),
        # LangGraph dev lets `x-auth-scheme: langsmith` through as a Studio user unless disabled.
        "studio header": ({"x-auth-scheme": "langsmith"}, "missing bearer token"),
        "studio header with a forged token": ({"x-auth-scheme": "langsmith", **_bearer("forged")}, "malformed"),
    }
    for name, (headers, reason) in cases.items():
        response = _search_threads(url, headers)
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert reason in response.json()["detail"], (name, response.text)
    # The same calls with a valid token succeed, so the 401s are about the token alone.
    assert _search_threads(url, _bearer(keys.token("user-a"))).status_code == 200
    assert _search_threads(url, {"x-auth-scheme": "langsmith", **_bearer(keys.token("user-a"))}).status_code == 200
    # Readiness stays public.
    assert httpx.get(f"{url}/info", timeout=10).status_code == 200


async def test_the_sdk_without_a_token_is_refused(auth_server: AuthServer) -> None:
    async with sdk_client(auth_server.url) as anonymous:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await anonymous.threads.create()
    assert refused.value.response.status_code == 401


async def test_single_sign_on_tokens_from_a_jwks_file(auth_server: AuthServer) -> None:
    """RS256 and ES256 tokens (with `kid`) verify against the JWKS file; the user is the token's subject."""
    keys = auth_server.keys
    for key, user in ((keys.rsa, "sso-rsa-user"), (keys.ec, "sso-ec-user")):
        async with sdk_client(auth_server.url, token=sign_with(key, claims(user))) as sso:
            thread = await sso.threads.create()
            assert thread["metadata"]["owner"] == user
    # A key that is not in the JWKS, even under a published kid, is refused.
    response = _search_threads(auth_server.url, _bearer(sign_with(ec_key(), claims("sso-ec-user"), kid=keys.ec.kid)))
    assert response.status_code == 401, response.text
    # So is a JWKS-signed token for another issuer.
    response = _search_threads(auth_server.url, _bearer(sign_with(keys.rsa, claims("sso-rsa-user", issuer=ISSUER + "/other"))))
    assert response.status_code == 401, response.text


async def test_a_minted_token_works_against_the_server(auth_server: AuthServer) -> None:
    env = {"PATH": "/usr/bin:/bin", **auth_server.keys.env()}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.mint_token", "minted-user", "--hours", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    async with sdk_client(auth_server.url, token=done.stdout.strip()) as minted:
        thread = await minted.threads.create()
    assert thread["metadata"]["owner"] == "minted-user"


async def test_hello_approval_flow_with_auth_on(auth_server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    async with auth_server.client("user-hello") as client:
        await hello_flow(client, scripted_llm, auth_server.paths)


async def test_single_user_mode_says_so_and_owns_everything(client: LangGraphClient, langgraph_server: LangGraphServer) -> None:
    """Without AUTH_* the server takes every request as user `local`, and said so when it started."""
    thread = await client.threads.create(metadata={"owner": "someone-else"})
    assert thread["metadata"]["owner"] == "local"
    log = langgraph_server.log_tail(10_000)
    assert "single-user mode" in log, log[-3000:]
