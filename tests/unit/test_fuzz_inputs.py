"""Property tests over what a caller controls: tokens, credential headers and resume payloads.

Whatever bytes arrive, the answer is a user id the token proves or a refusal
with a status below 500: `TokenError` (the server's 401 with its reason) for
credentials, `Auth.exceptions.HTTPException` with a 4xx for resumes. Any other
exception would reach the client as a 500. The live API is fuzzed from its schema
in `tests/e2e/test_fuzz_api.py`; thread ids and paths in `test_thread_ids.py` and
`test_workspace_paths.py`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph_sdk import Auth

from config.auth import AuthSettings
from server import approval_checks
from server.tokens import TokenError, TokenVerifier, request_token
from tests.support.auth_keys import AUDIENCE, ISSUER, AuthKeys, claims, sign_hs256
from tests.support.pending_thread import INTERRUPT_ID, read_pending_thread

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
"""Any JSON value."""


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> AuthKeys:
    return AuthKeys(jwks_file=tmp_path_factory.mktemp("jwks") / "jwks.json")


@pytest.fixture(scope="module")
def verifier(keys: AuthKeys) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwt_secret=keys.secret, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_file=Path(keys.jwks_file)))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_or_refuse(verifier: TokenVerifier, token: str) -> str | None:
    """The verified user id, or None for a `TokenError`; any other exception fails the property."""
    try:
        return verifier.verify(token)
    except TokenError as refused:
        reason = str(refused)
    assert reason, "a refusal says why"
    assert token not in reason or len(token) < 8, "a refusal never echoes the token"
    return None


@EXAMPLES
@given(token=st.text(max_size=300))
def test_any_text_as_a_token_is_a_user_or_a_reasoned_refusal(verifier: TokenVerifier, token: str) -> None:
    verify_or_refuse(verifier, token)


@EXAMPLES
@given(header=st.dictionaries(st.text(max_size=8), JSON, max_size=5), body=st.dictionaries(st.text(max_size=8), JSON, max_size=6))
def test_any_header_and_claims_signed_with_the_real_secret_are_refused_or_valid(
    verifier: TokenVerifier, keys: AuthKeys, header: dict[str, Any], body: dict[str, Any]
) -> None:
    """Signed correctly, so only the header's and the claims' content decides (`crit`, `alg`, `kid`, odd types)."""
    import hmac  # noqa: PLC0415
    from hashlib import sha256  # noqa: PLC0415

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = hmac.new(keys.secret.encode(), signing_input.encode(), sha256).digest()
    assert verify_or_refuse(verifier, f"{signing_input}.{b64(signature)}") is None  # no `exp`/`iss`/`aud` by chance


@EXAMPLES
@given(subject=st.text(max_size=200))
def test_any_subject_in_a_valid_token_is_that_user_or_refused(verifier: TokenVerifier, keys: AuthKeys, subject: str) -> None:
    user = verify_or_refuse(verifier, sign_hs256(keys.secret, claims(subject)))
    assert user in {None, subject}


@EXAMPLES
@given(
    headers=st.dictionaries(st.sampled_from(["authorization", "Authorization", "x-api-key", "X-Api-Key", "cookie"]), st.text(max_size=60))
)
def test_any_credential_headers_give_a_token_or_a_reasoned_refusal(headers: dict[str, str]) -> None:
    try:
        assert request_token(headers)
    except TokenError as refused:
        reason = str(refused)
    else:
        return
    assert reason


DECISION = st.fixed_dictionaries(
    {"type": st.sampled_from(["approve", "edit", "reject", "respond", "other"]) | JSON},
    optional={"message": JSON, "edited_action": JSON | st.fixed_dictionaries({"name": st.text(max_size=10) | JSON, "args": JSON})},
)
RESUME = (
    JSON
    | st.fixed_dictionaries({"decisions": st.lists(DECISION, max_size=3) | JSON})
    | st.dictionaries(st.just(INTERRUPT_ID) | st.text(max_size=32), st.fixed_dictionaries({"decisions": st.lists(DECISION, max_size=3)}))
)
COMMAND = st.fixed_dictionaries({"resume": RESUME}, optional={"goto": JSON, "update": JSON})


@pytest.fixture(autouse=True)
def stored_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approval_checks, "read_thread", read_pending_thread)


@EXAMPLES
@given(command=COMMAND | JSON, thread=st.sampled_from(["t1", "missing"]), assistant=st.sampled_from(["a1", "a2"]) | JSON)
async def test_any_resume_is_accepted_or_refused_with_a_4xx(command: Any, thread: str, assistant: Any) -> None:
    value = {"thread_id": thread, "assistant_id": assistant, "kwargs": {"command": command}}
    try:
        await approval_checks.refuse_bad_resume(value)  # type: ignore[arg-type]
    except Auth.exceptions.HTTPException as refused:
        status, detail = refused.status_code, refused.detail
    else:
        return
    assert 400 <= status < 500, detail
    assert detail
