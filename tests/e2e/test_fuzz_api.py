"""The whole LangGraph API, fuzzed from its own OpenAPI schema by an authenticated user: no 5xx, no other user's data.

`schemathesis` generates requests for every operation the live server's
`/openapi.json` describes (threads, runs, crons, assistants, store, ...) and
sends them with a valid token of one user, the attacker. Before that, a second
user, the victim, creates a thread with a run, an assistant and a store item,
each carrying a marker string. Every answer must be below 500 and must not
contain the victim's marker or any of the victim's ids: a user with a valid
token is an attacker too.

The server is one of its own (`langgraph dev`, auth on), so generated crons and
runs never reach other tests. Bounded: `FUZZ_EXAMPLES` examples per operation
(default 6), derandomized so CI runs the same requests each time; set
`FUZZ_SEED` to explore other ones, `FUZZ_ONLY` (a regular expression) to
fuzz only the operations whose label matches it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import Case
from schemathesis.schemas import APIOperation

from tests.support.agent_client import GRAPH_ID
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
SEED = os.environ.get("FUZZ_SEED")
ONLY = re.compile(os.environ.get("FUZZ_ONLY", ""))
"""Only the operations whose label (`POST /threads/search`) matches this regular expression."""
REQUEST_TIMEOUT = 20.0
"""Seconds an ordinary operation may stay silent before "no answer" is a finding."""
LONG_LIVED = ("/stream", "/wait", "/join")
"""Operations that stream or wait on a run by design: their answer is what arrives before they go quiet for 3 s."""
MAX_BODY = 1024 * 1024
ATTACKER, VICTIM = "fuzz-attacker", "fuzz-victim"


@dataclass
class Victim:
    """What the other user owns; none of it may show up in the attacker's answers."""

    marker: str
    secrets: set[str] = field(default_factory=set)

    def found_in(self, text: str) -> list[str]:
        return sorted(secret for secret in self.secrets if secret in text)


@pytest.fixture(scope="module")
def fuzz_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    """An auth-enabled `langgraph dev` of the fuzzer's own."""
    with auth_server_with(LANGGRAPH_DEV, scripted_llm, tmp_path_factory, sandbox_image) as server:
        yield server


@pytest.fixture(scope="module")
def victim(fuzz_server: AuthServer) -> Victim:
    """The victim's thread (with a finished run), assistant and store item, each named with a marker."""
    marker = f"victim-secret-{uuid.uuid4().hex}"
    found = Victim(marker, {marker})
    headers = {"Authorization": f"Bearer {fuzz_server.keys.token(VICTIM)}"}
    with httpx.Client(base_url=fuzz_server.url, headers=headers, timeout=60) as http:
        thread = http.post("/threads", json={"metadata": {"note": marker}}).raise_for_status().json()
        run = (
            http.post(
                f"/threads/{thread['thread_id']}/runs/wait",
                json={"assistant_id": GRAPH_ID, "input": {"messages": [{"role": "user", "content": marker}]}},
            )
            .raise_for_status()
            .json()
        )
        assert run is not None
        assistant = (
            http.post("/assistants", json={"graph_id": GRAPH_ID, "name": marker, "metadata": {"note": marker}}).raise_for_status().json()
        )
        http.put("/store/items", json={"namespace": ["notes"], "key": marker, "value": {"note": marker}}).raise_for_status()
    found.secrets |= {thread["thread_id"], assistant["assistant_id"]}
    return found


def operations(server: AuthServer) -> list[APIOperation]:
    """Every operation of the served schema (read with the attacker's token: it may be gated)."""
    headers = {"Authorization": f"Bearer {server.keys.token(ATTACKER)}"}
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=headers, timeout=30)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) > 20, [op.label for op in found]
    return [op for op in found if ONLY.search(op.label)]


def read_bounded(response: requests.Response, *, long_lived: bool) -> str:
    """The body, up to `MAX_BODY` bytes; a stream that goes quiet ends the read (only for `LONG_LIVED` operations)."""
    body = bytearray()
    try:
        for chunk in response.iter_content(64 * 1024):
            body.extend(chunk)
            if len(body) >= MAX_BODY:
                break
    except requests.exceptions.RequestException:
        if not long_lived:
            raise
    return body.decode("utf-8", "replace")


def check_one(operation: APIOperation, server: AuthServer, victim: Victim, findings: list[str], statuses: Counter[int]) -> None:
    """Send `EXAMPLES` generated requests for one operation, count their statuses, and note every 5xx or leak."""
    token = server.keys.token(ATTACKER)
    long_lived = any(part in operation.path for part in LONG_LIVED)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def send(case: Case) -> None:
        request = case.as_transport_kwargs(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        try:
            with requests.request(**request, stream=True, timeout=(10.0, 3.0 if long_lived else REQUEST_TIMEOUT)) as response:
                status, text = response.status_code, read_bounded(response, long_lived=long_lived)
        except requests.exceptions.RequestException as exc:
            findings.append(f"{operation.label}: no answer ({type(exc).__name__}) to {case.as_curl_command()}")
            return
        statuses[status] += 1
        if status >= 500:
            findings.append(f"{operation.label}: {status} {text[:300]!r} for {case.as_curl_command()}")
        if leaked := victim.found_in(text):
            findings.append(f"{operation.label}: the victim's {leaked} in the answer to {case.as_curl_command()}")

    if SEED is not None:
        send = seed(int(SEED))(send)
    send()


def test_no_generated_request_gets_a_5xx_or_another_users_data(fuzz_server: AuthServer, victim: Victim) -> None:
    findings: list[str] = []
    answered: dict[str, Counter[int]] = {}
    for operation in operations(fuzz_server):
        answered[operation.label] = Counter()
        check_one(operation, fuzz_server, victim, findings, answered[operation.label])
    assert not findings, "\n".join(findings)
    # Not a vacuous pass: the token works and generated requests reach the handlers.
    accepted = sorted(label for label, statuses in answered.items() if any(200 <= code < 300 for code in statuses))
    assert len(accepted) >= len(answered) // 3, {label: dict(statuses) for label, statuses in answered.items()}
    assert not any(401 in statuses for statuses in answered.values()), answered
