"""Session fixtures for the end-to-end suite: one scripted LLM, one real `langgraph dev`.

Every e2e test talks to the server only through `langgraph_sdk.get_client()`.
The server runs the repository's `agent` graph (ephemeral sandboxes) with its
model pointed at `ScriptedLLM`, its workspaces and shared folder in pytest's tmp
dir, and the sandbox image from `SANDBOX_IMAGE` (default `deepagents-sandbox:offline`).

When an e2e test fails, the server log written while it ran is attached to the
report ("langgraph dev log" section).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from langgraph_sdk.client import LangGraphClient  # noqa: E402

from tests.support.agent_client import sdk_client  # noqa: E402
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev  # noqa: E402
from tests.support.scripted_llm import ScriptedLLM  # noqa: E402

SHARED_FILE_NAME = "shared-readme.txt"
SHARED_FILE_TEXT = "shared material for every sandbox\n"

_SERVER_KEY = pytest.StashKey[LangGraphServer]()
_LOG_OFFSET_KEY = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def scripted_llm() -> Iterator[ScriptedLLM]:
    """The model every e2e run talks to; tests add their own scenarios."""
    with ScriptedLLM() as llm:
        yield llm


@pytest.fixture(scope="session")
def e2e_paths(tmp_path_factory: pytest.TempPathFactory) -> E2EPaths:
    """Fresh workspaces and shared folders (world-readable, like a checkout's)."""
    base = tmp_path_factory.mktemp("e2e")
    paths = E2EPaths(workspaces=base / "workspaces", shared=base / "shared", server_home=base / "server", memories=base / "memories")
    for folder in (paths.workspaces, paths.shared, paths.server_home, paths.memories):
        folder.mkdir()
        folder.chmod(0o755)
    shared_file = paths.shared / SHARED_FILE_NAME
    shared_file.write_text(SHARED_FILE_TEXT, encoding="utf-8")
    shared_file.chmod(0o644)
    return paths


@pytest.fixture(scope="session")
def langgraph_server(
    scripted_llm: ScriptedLLM,
    e2e_paths: E2EPaths,
    sandbox_image: str,
) -> Iterator[LangGraphServer]:
    """One `langgraph dev` (ephemeral sandboxes) for the whole e2e session."""
    env = {
        "ZHIPUAI_API_KEY": "e2e-test-key",
        "ZHIPUAI_API_BASE": scripted_llm.base_url,
        "LLM_MODEL": "glm-4.7",
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(e2e_paths.workspaces),
        "SANDBOX_SHARED_DIR": str(e2e_paths.shared),
        "SANDBOX_MEMORIES_DIR": str(e2e_paths.memories),
        "SANDBOX_MODE": "ephemeral",
    }
    with run_langgraph_dev(workdir=e2e_paths.server_home, env=env) as server:
        yield server


@pytest.fixture(autouse=True)
def _mark_server_log(request: pytest.FixtureRequest, langgraph_server: LangGraphServer) -> None:
    """Remember where the server log stood when this test started."""
    request.node.stash[_SERVER_KEY] = langgraph_server
    request.node.stash[_LOG_OFFSET_KEY] = langgraph_server.log_size()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Attach the server log written during a failed test to its report."""
    report: pytest.TestReport = yield
    server = item.stash.get(_SERVER_KEY, None)
    if server is not None and report.failed and call.when in {"setup", "call"}:
        offset = item.stash.get(_LOG_OFFSET_KEY, 0)
        state = "running" if server.alive else f"EXITED with {server.process.returncode}"
        report.sections.append((f"langgraph dev log ({server.log_path}, server {state})", server.log_since(offset)))
    return report


@pytest.fixture
async def client(langgraph_server: LangGraphServer) -> AsyncIterator[LangGraphClient]:
    """An async SDK client for the session's server."""
    async with sdk_client(langgraph_server.url) as sdk:
        yield sdk
