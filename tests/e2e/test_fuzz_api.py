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
(default 6), from a fixed seed (`FUZZ_SEED`, default 0) so CI runs the same
requests each time; hypothesis's own derandomizing would seed from the test
function's source, so any edit to this module changed every request. Set
`FUZZ_SEED` to explore other ones, `FUZZ_ONLY` (a regular expression) to
fuzz only the operations whose label matches it.

The project's own workspace file routes (`/files/...`), thread fork and rewind
routes (`/thread-forks/...`, `/thread-rewinds/...`) are not in the server's schema; `file_routes_schema`
describes them, and they are fuzzed the same way, on the attacker's own thread
(so generated paths reach the file layer) and on the victim's, whose file must
come through untouched (and whose thread the attacker cannot fork). The
background process routes (`process_routes_schema`) and the preview routes
(`preview_routes_schema`) likewise: links asked for both users' threads with any
port, and links that are not ones opened with any path.
The admin routes (`/admin/...`) are fuzzed as an admin (no 5xx) and as the
attacker (403 for every one but `/admin/me`).
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

from config.sandbox import SandboxSettings
from sandbox import SandboxDeployment, ThreadRef
from sandbox.containers.container_spec import LABEL_MODE, label_filter, labels_for
from tests.support.agent_client import GRAPH_ID
from tests.support.auth_keys import ADMIN_USER
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import LANGGRAPH_DEV
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("FUZZ_SEED", "0"))
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


def check_one(
    operation: APIOperation,
    server: AuthServer,
    victim: Victim,
    findings: list[str],
    statuses: Counter[int],
    examples: int = EXAMPLES,
    user: str = ATTACKER,
) -> None:
    """Send `examples` generated requests for one operation as `user`, count their statuses, and note every 5xx or leak."""
    token = server.keys.token(user)
    long_lived = any(part in operation.path for part in LONG_LIVED)

    @settings(
        max_examples=examples,
        deadline=None,
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

    seed(SEED)(send)()


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


FILE_EXAMPLES = EXAMPLES * 8
"""The file routes are few and fast, and their inputs are paths: more examples each."""
VICTIM_FILE = "/workspace/victim.txt"


def _workspace_path_schema() -> dict[str, object]:
    """Mostly paths under /workspace (traversal, NUL, long names, existing entries), sometimes any string."""
    near = {"type": "string", "pattern": r"^/workspace(/(\.\.|\.|[a-z]{1,3}|victim\.txt|\x00|n{200,300}|sub)){0,4}/?$"}
    return {"anyOf": [near, {"type": "string"}, {"type": "string", "enum": ["/workspace", "/shared", "/etc/passwd", "/workspace/sh/x"]}]}


def file_routes_schema(thread_ids: list[str]) -> dict[str, object]:
    """An OpenAPI description of our own routes (files, file edits, thread forks, rewinds and changes), for schemathesis."""
    thread = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string", "enum": thread_ids}}
    any_thread = {**thread, "schema": {"anyOf": [thread["schema"], {"type": "string", "minLength": 1}]}}
    rewind = {"content": {"application/json": {"schema": {"type": "object", "properties": {"checkpoint_id": {"type": "string"}}}}}}

    def query(name: str) -> dict[str, object]:
        return {"name": name, "in": "query", "required": False, "schema": _workspace_path_schema()}

    def checkpoint(name: str) -> dict[str, object]:
        ids = {"anyOf": [{"type": "string"}, {"type": "string", "format": "uuid"}]}
        return {"name": name, "in": "query", "required": False, "schema": ids}

    answers = {"default": {"description": "any answer"}}
    body = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "workspace file routes", "version": "1"},
        "paths": {
            "/files/{thread_id}/list": {"get": {"parameters": [thread, query("path")], "responses": answers}},
            "/files/{thread_id}/content": {
                "get": {"parameters": [thread, query("path")], "responses": answers},
                "put": {"parameters": [thread, query("path")], "requestBody": body, "responses": answers},
                "delete": {"parameters": [thread, query("path")], "responses": answers},
            },
            "/files/{thread_id}/rename": {"post": {"parameters": [thread, query("path"), query("to")], "responses": answers}},
            "/thread-forks/{thread_id}": {"post": {"parameters": [any_thread], "responses": answers}},
            "/thread-rewinds/{thread_id}": {"post": {"parameters": [any_thread], "requestBody": rewind, "responses": answers}},
            "/thread-changes/{thread_id}": {
                "get": {"parameters": [any_thread, checkpoint("from"), checkpoint("to")], "responses": answers},
            },
        },
    }


def fuzz_own_schema(description: dict[str, object], server: AuthServer, victim: Victim) -> dict[str, Counter[int]]:
    """Fuzz every operation of a schema of our own routes (`FILE_EXAMPLES` each); the statuses per operation, after
    asserting that none was a 5xx or showed the victim's data."""
    findings: list[str] = []
    answered: dict[str, Counter[int]] = {}
    for result in schemathesis.openapi.from_dict(description).get_all_operations():
        operation = result.ok()
        answered[operation.label] = Counter()
        check_one(operation, server, victim, findings, answered[operation.label], examples=FILE_EXAMPLES)
    assert not findings, "\n".join(findings)
    return answered


def test_file_routes_give_no_5xx_and_leave_other_users_files_alone(fuzz_server: AuthServer, victim: Victim) -> None:
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as http:
        as_victim = {"Authorization": f"Bearer {fuzz_server.keys.token(VICTIM)}"}
        victims = http.post("/threads", json={}, headers=as_victim).raise_for_status().json()["thread_id"]
        http.put(f"/files/{victims}/content", params={"path": VICTIM_FILE}, content=victim.marker, headers=as_victim).raise_for_status()
        as_attacker = {"Authorization": f"Bearer {fuzz_server.keys.token(ATTACKER)}"}
        own = http.post("/threads", json={}, headers=as_attacker).raise_for_status().json()["thread_id"]
        for name in ("victim.txt", "sub/a", "b"):
            http.put(f"/files/{own}/content", params={"path": f"/workspace/{name}"}, content=b"x", headers=as_attacker).raise_for_status()
    os.symlink("/shared", fuzz_server.paths.workspace(own) / "sh")  # a way into the read-only /shared, as `ln -s` leaves it
    victim.secrets.add(victims)
    answered = fuzz_own_schema(file_routes_schema([own, victims]), fuzz_server, victim)
    assert len(answered) == 8, answered
    # Not a vacuous pass: generated requests reach the handlers, and some succeed.
    assert sum(statuses[200] + statuses[201] for statuses in answered.values()) > 0, answered
    assert not any(401 in statuses for statuses in answered.values()), answered
    with httpx.Client(base_url=fuzz_server.url, timeout=60, headers=as_victim) as http:
        kept = http.get(f"/files/{victims}/content", params={"path": VICTIM_FILE})
    assert kept.status_code == 200, kept.text
    assert kept.text == victim.marker, "the attacker changed the victim's file"


def process_routes_schema(thread_ids: list[str], process_ids: list[str]) -> dict[str, object]:
    """An OpenAPI description of `server.process_routes`, for schemathesis: real ids mixed with any string."""
    thread = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string", "enum": thread_ids}}
    process = {"name": "process_id", "in": "path", "required": True, "schema": {"anyOf": [{"enum": process_ids}, {"type": "string"}]}}
    since = {"name": "since", "in": "query", "required": False, "schema": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}
    answers = {"default": {"description": "any answer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "background process routes", "version": "1"},
        "paths": {
            "/processes/{thread_id}": {"get": {"parameters": [thread], "responses": answers}},
            "/processes/{thread_id}/{process_id}/output": {"get": {"parameters": [thread, process, since], "responses": answers}},
            "/processes/{thread_id}/{process_id}/stop": {"post": {"parameters": [thread, process], "responses": answers}},
        },
    }


def admin_routes_schema() -> dict[str, object]:
    """An OpenAPI description of `server.admin_routes`, for schemathesis: any strings where a client could put one."""
    answers = {"default": {"description": "any answer"}}
    text = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "string", "pattern": r"^[0-9a-f]{12,64}$"}]}

    def query(name: str) -> dict[str, object]:
        return {"name": name, "in": "query", "required": False, "schema": text}

    container = {"name": "container_id", "in": "path", "required": True, "schema": text}
    return {
        "openapi": "3.0.3",
        "info": {"title": "admin routes", "version": "1"},
        "paths": {
            "/admin/me": {"get": {"responses": answers}},
            "/admin/sandboxes": {"get": {"responses": answers}},
            "/admin/sandboxes/{container_id}/stop": {"post": {"parameters": [container], "responses": answers}},
            "/admin/disk": {"get": {"responses": answers}},
            "/admin/audit": {"get": {"parameters": [query("limit"), query("user"), query("kind")], "responses": answers}},
        },
    }


def preview_routes_schema(thread_ids: list[str]) -> dict[str, object]:
    """An OpenAPI description of `server.preview_routes`: link creation on real threads, and links that are not ones."""
    thread = {
        "name": "thread_id",
        "in": "path",
        "required": True,
        "schema": {"anyOf": [{"type": "string", "enum": thread_ids}, {"type": "string"}]},
    }
    port_values = {"type": "string", "enum": ["0", "1", "8000", "65535", "65536", "-1", "1e3", "08000", "99999999999999999999", "٣"]}
    port = {"name": "port", "in": "path", "required": True, "schema": {"anyOf": [port_values, {"type": "integer"}, {"type": "string"}]}}
    link_like = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,50}$"}
    token = {"name": "token", "in": "path", "required": True, "schema": {"anyOf": [link_like, {"type": "string"}]}}
    path = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
    answers = {"default": {"description": "any answer"}}
    body = {"required": False, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    opened = {"parameters": [token, path], "responses": answers}
    return {
        "openapi": "3.0.3",
        "info": {"title": "preview routes", "version": "1"},
        "paths": {
            "/preview/{thread_id}/{port}": {"post": {"parameters": [thread, port], "responses": answers}},
            "/preview/t/{token}/{path}": {"get": opened, "post": {**opened, "requestBody": body}, "delete": opened},
        },
    }


def test_process_routes_give_no_5xx_and_never_reach_another_users_process(
    fuzz_server: AuthServer, victim: Victim, sandbox_image: str
) -> None:
    paths = fuzz_server.paths
    settings = SandboxSettings(image=sandbox_image, workspaces_dir=paths.workspaces, shared_dir=paths.shared, memories_dir=paths.memories)
    deployment = SandboxDeployment(settings)  # the server's own folders and engine: the victim's process, as the agent starts one
    try:
        with httpx.Client(base_url=fuzz_server.url, timeout=60) as http:
            as_victim = {"Authorization": f"Bearer {fuzz_server.keys.token(VICTIM)}"}
            victims = http.post("/threads", json={}, headers=as_victim).raise_for_status().json()["thread_id"]
            as_attacker = {"Authorization": f"Bearer {fuzz_server.keys.token(ATTACKER)}"}
            own = http.post("/threads", json={}, headers=as_attacker).raise_for_status().json()["thread_id"]
        theirs = deployment.processes.start(
            ThreadRef(user_id=VICTIM, thread_id=victims, image=sandbox_image), f"echo {victim.marker}; sleep 600"
        )
        mine = deployment.processes.start(ThreadRef(user_id=ATTACKER, thread_id=own, image=sandbox_image), "echo mine; sleep 600")
        answered = fuzz_own_schema(process_routes_schema([own, victims], [theirs.process_id, mine.process_id]), fuzz_server, victim)
        assert len(answered) == 3, answered
        assert sum(statuses[200] for statuses in answered.values()) > 0, answered
        [still] = deployment.processes.of_thread(victims)
        assert still.state == "running", "the attacker stopped the victim's process"
    finally:
        deployment.close()
        for container in deployment.api.containers(all=True, filters=label_filter(labels_for(settings))):
            if container["Labels"].get(LABEL_MODE) == "process":
                deployment.api.remove_container(container["Id"], force=True)


def test_preview_routes_give_no_5xx_and_no_link_to_another_users_thread(fuzz_server: AuthServer, victim: Victim) -> None:
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as http:
        as_victim = {"Authorization": f"Bearer {fuzz_server.keys.token(VICTIM)}"}
        victims = http.post("/threads", json={}, headers=as_victim).raise_for_status().json()["thread_id"]
        as_attacker = {"Authorization": f"Bearer {fuzz_server.keys.token(ATTACKER)}"}
        own = http.post("/threads", json={}, headers=as_attacker).raise_for_status().json()["thread_id"]
        refused = http.post(f"/preview/{victims}/8000", headers=as_attacker)
    assert refused.status_code == 404, refused.text
    victim.secrets.add(victims)
    answered = fuzz_own_schema(preview_routes_schema([own, victims]), fuzz_server, victim)
    assert len(answered) == 4, answered
    # Not a vacuous pass: links are made for the attacker's own thread, and forged ones reach the check.
    assert answered["POST /preview/{thread_id}/{port}"][201] > 0, answered
    assert sum(statuses[403] for label, statuses in answered.items() if "/t/" in label) > 0, answered
    assert not any(401 in statuses for label, statuses in answered.items() if "/t/" not in label), answered


def test_admin_routes_give_no_5xx_and_only_admins_get_in(fuzz_server: AuthServer, victim: Victim) -> None:
    schema = schemathesis.openapi.from_dict(admin_routes_schema())
    admin_findings: list[str] = []
    attacker_findings: list[str] = []
    as_admin: dict[str, Counter[int]] = {}
    as_attacker: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        as_admin[operation.label] = Counter()
        check_one(operation, fuzz_server, victim, admin_findings, as_admin[operation.label], examples=FILE_EXAMPLES, user=ADMIN_USER)
        as_attacker[operation.label] = Counter()
        check_one(operation, fuzz_server, victim, attacker_findings, as_attacker[operation.label], user=ATTACKER)
    assert not attacker_findings, "\n".join(attacker_findings)
    # Every user's threads may show in an admin's answers (that is the view's job): there only 5xx and silence count.
    assert not [f for f in admin_findings if "the victim's" not in f], "\n".join(admin_findings)
    assert len(as_admin) == 5, as_admin
    assert sum(statuses[200] for statuses in as_admin.values()) > 0, as_admin
    for label, statuses in as_attacker.items():
        expected = {200} if label == "GET /admin/me" else {403}
        assert set(statuses) == expected, (label, statuses)
