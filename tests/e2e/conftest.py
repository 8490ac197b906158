"""Session fixtures for the end-to-end suite: one scripted LLM, one real `langgraph dev`, and the contract servers.

Every e2e test talks to the server only through `langgraph_sdk.get_client()`.
The contract suite (every test using `engine_server`, marked `contract`) runs on
each engine of `tests.support.engines.CONTRACT_ENGINES`: `langgraph dev` and Aegra with
two processes, PostgreSQL and Redis; its test ids name the engine.
The server runs the repository's `agent` graph (ephemeral sandboxes) with its
model pointed at `ScriptedLLM`, its workspaces and shared folder in pytest's tmp
dir, and the sandbox image from `SANDBOX_IMAGE` (default `deepagents-sandbox:offline`).

When an e2e test fails, the server log written while it ran is attached to the
report ("server log" section).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import pytest
from langgraph_sdk.client import LangGraphClient

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import label_filter, labels_for
from tests.support.agent_client import sdk_client
from tests.support.e2e_servers import CONTRACT_FIXTURES, CONTRACT_USER, AuthServer, auth_server_with, make_e2e_paths, server_env
from tests.support.engines import CONTRACT_ENGINES, LANGGRAPH_DEV
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

_SERVER_KEY = pytest.StashKey[LangGraphServer]()
_LOG_OFFSET_KEY = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[ScriptedLLM]:
    """The model every e2e run talks to; tests add their own scenarios."""
    with ScriptedLLM() as llm:
        yield llm


@pytest.fixture(scope="session")
def e2e_paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EPaths]:
    """Fresh workspaces and shared folders (world-readable, like a checkout's); workspaces removed at the end."""
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e"))
    yield paths
    remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.fixture(scope="session")
def langgraph_server(
    scripted_llm: ScriptedLLM,
    e2e_paths: E2EPaths,
    sandbox_image: str,
) -> Iterator[LangGraphServer]:
    """One `langgraph dev` (ephemeral sandboxes, single-user mode) for the whole e2e session."""
    with run_langgraph_dev(workdir=e2e_paths.server_home, env=server_env(scripted_llm, e2e_paths, sandbox_image)) as server:
        yield server


@pytest.fixture(scope="session")
def auth_server(
    scripted_llm: ScriptedLLM,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_image: str,
) -> Iterator[AuthServer]:
    """One auth-enabled `langgraph dev` (ephemeral sandboxes) shared by the auth and ownership tests and the contract suite."""
    with auth_server_with(LANGGRAPH_DEV, scripted_llm, tmp_path_factory, sandbox_image) as server:
        yield server


@pytest.fixture(scope="session", params=CONTRACT_ENGINES)
def engine_server(
    request: pytest.FixtureRequest, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """The contract suite's server, once per engine: `langgraph dev` (the e2e `auth_server`) or Aegra (2 processes, Redis).

    Auth is on, so ownership between two users is part of the contract; tests act
    as `CONTRACT_USER` unless they need a second user.
    """
    if request.param == LANGGRAPH_DEV:
        yield request.getfixturevalue("auth_server")
        return
    with auth_server_with(request.param, scripted_llm, tmp_path_factory, sandbox_image) as server:
        yield server


@pytest.fixture(scope="module")
def restartable_server(
    engine_server: AuthServer, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """A contract server that a test may restart: Aegra's shared one, or a `langgraph dev` of its own.

    On `langgraph dev`, once a thread was deleted, a restart lost the pending
    approvals of other threads: its in-memory runtime's periodic flush then
    tracks stale copies of the checkpoint files (`Checkpointer(unpack_hook=...)`
    in `langgraph_runtime_inmem.checkpoint` registers new ones). The shared
    server sees deletions, so `langgraph dev` restarts one that saw none; Aegra
    keeps everything in PostgreSQL, so its shared server restarts as it is.
    """
    if engine_server.engine != LANGGRAPH_DEV:
        yield engine_server
        return
    with auth_server_with(LANGGRAPH_DEV, scripted_llm, tmp_path_factory, sandbox_image) as server:
        yield server


@pytest.fixture
async def engine_client(engine_server: AuthServer) -> AsyncIterator[LangGraphClient]:
    """An SDK client of the contract server, acting as `CONTRACT_USER`."""
    async with engine_server.client(CONTRACT_USER) as sdk:
        yield sdk


@pytest.fixture
def engine_paths(engine_server: AuthServer) -> E2EPaths:
    """The host folders of the contract server's sandboxes."""
    return engine_server.paths


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on a contract server is part of the contract suite (`-m contract`)."""
    for item in items:
        if CONTRACT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session")
def session_server(
    scripted_llm: ScriptedLLM, e2e_paths: E2EPaths, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LangGraphServer]:
    """A second `langgraph dev`, in SANDBOX_MODE=session, started by the first test that needs it."""
    home: Path = tmp_path_factory.mktemp("session-server")
    # Its own workspaces dir, hence its own container scope: the ephemeral server's
    # hygiene checks never see this server's (long-lived by design) containers.
    workspaces = home / "workspaces"
    workspaces.mkdir()
    for folder in (home, workspaces):
        folder.chmod(0o755)
    env = server_env(scripted_llm, e2e_paths, sandbox_image, SANDBOX_WORKSPACES_DIR=str(workspaces), SANDBOX_MODE="session")
    try:
        with run_langgraph_dev(workdir=home, env=env) as server:
            yield server
    finally:
        _remove_session_containers(workspaces)


def _remove_session_containers(workspaces: Path) -> None:
    """Session containers outlive their server by design; the test owns these ones."""
    scope = labels_for(SandboxSettings(workspaces_dir=workspaces.resolve()), mode="session")
    engine = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    try:
        for container in engine.containers(all=True, filters=label_filter(scope)):
            engine.remove_container(container["Id"], force=True)
    finally:
        engine.close()


@pytest.fixture
async def session_client(session_server: LangGraphServer) -> AsyncIterator[LangGraphClient]:
    """An async SDK client for the session-mode server."""
    async with sdk_client(session_server.url) as sdk:
        yield sdk


_LOGGED_SERVERS = ("fuzz_server", "restartable_server", "engine_server", "auth_server", "session_server", "langgraph_server")
"""Fixtures whose server log a failed test shows: the first one the test uses."""


@pytest.fixture(autouse=True)
def _mark_server_log(request: pytest.FixtureRequest) -> None:
    """Remember which server the test uses and where its log stood when the test started."""
    name = next((n for n in _LOGGED_SERVERS if n in request.fixturenames), "langgraph_server")
    used = request.getfixturevalue(name)
    server: LangGraphServer = used if isinstance(used, LangGraphServer) else used.server
    request.node.stash[_SERVER_KEY] = server
    request.node.stash[_LOG_OFFSET_KEY] = server.log_size()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Attach the server log written during a failed test to its report."""
    report: pytest.TestReport = yield
    server = item.stash.get(_SERVER_KEY, None)
    if server is not None and report.failed and call.when in {"setup", "call"}:
        offset = item.stash.get(_LOG_OFFSET_KEY, 0)
        state = "running" if server.alive else f"EXITED with {server.process.returncode}"
        report.sections.append((f"server log ({server.log_path}, server {state})", server.log_since(offset)))
    return report


@pytest.fixture
async def client(langgraph_server: LangGraphServer) -> AsyncIterator[LangGraphClient]:
    """An async SDK client for the session's server."""
    async with sdk_client(langgraph_server.url) as sdk:
        yield sdk
