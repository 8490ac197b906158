"""The e2e servers' shared parts: their folders, their environment, and the auth-enabled server.

The fixtures in `tests/e2e/conftest.py` and `tests/browser/conftest.py` build on these, and
test modules that start a server of their own (Aegra, small budgets, restarts) use them
directly; they live here so that no test module imports a conftest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph_sdk.client import LangGraphClient

from config.auth import AuthSettings
from config.env import env_vars
from tests.support.agent_client import sdk_client
from tests.support.auth_keys import AuthKeys
from tests.support.engines import LANGGRAPH_DEV, RestartableServer, restartable
from tests.support.langgraph_server import E2EPaths, LangGraphServer
from tests.support.scripted_llm import ScriptedLLM
from tests.support.workspaces import remove_workspaces_under

SHARED_FILE_NAME = "shared-readme.txt"
SHARED_FILE_TEXT = "shared material for every sandbox\n"


def make_e2e_paths(base: Path) -> E2EPaths:
    """Fresh workspaces and shared folders under `base` (world-readable, like a checkout's).

    Whoever serves from them removes the workspaces at the end (`remove_workspaces_under`).
    """
    paths = E2EPaths(workspaces=base / "workspaces", shared=base / "shared", server_home=base / "server", memories=base / "memories")
    for folder in (paths.workspaces, paths.shared, paths.server_home, paths.memories):
        folder.mkdir()
        folder.chmod(0o755)
    shared_file = paths.shared / SHARED_FILE_NAME
    shared_file.write_text(SHARED_FILE_TEXT, encoding="utf-8")
    shared_file.chmod(0o644)
    return paths


AUTH_VARIABLES = tuple(env_vars(AuthSettings))
"""Every variable of `config.auth`: blank (the default) unless a test server turns auth on."""


def server_env(scripted_llm: ScriptedLLM, paths: E2EPaths, sandbox_image: str, **extra: str) -> dict[str, str]:
    """The environment of an e2e server: scripted model, private folders, no auth unless `extra` adds it."""
    return {
        "ZHIPUAI_API_KEY": "e2e-test-key",
        "ZHIPUAI_API_BASE": scripted_llm.base_url,
        "LLM_MODEL": "glm-4.7",
        "LLM_THINKING": "false",
        "SANDBOX_IMAGE": sandbox_image,
        "SANDBOX_WORKSPACES_DIR": str(paths.workspaces),
        "SANDBOX_SHARED_DIR": str(paths.shared),
        "SANDBOX_MEMORIES_DIR": str(paths.memories),
        "SANDBOX_MODE": "ephemeral",
        "SANDBOX_AUDIT_LOG": str(paths.server_home / "audit.jsonl"),
        **{name: "" for name in AUTH_VARIABLES},
        **extra,
    }


@dataclass
class AuthServer:
    """A server that requires bearer tokens (HS256 secret and a JWKS file, with issuer and audience)."""

    server: LangGraphServer
    keys: AuthKeys
    paths: E2EPaths
    engine: str = LANGGRAPH_DEV
    """Which engine serves (`tests.support.engines.ENGINES`)."""
    restartable: RestartableServer | None = None
    """Set when the server can be restarted in place (`restart`)."""

    def restart(self) -> None:
        """Stop the server and start it again on the same URL with the same state (blocking)."""
        if self.restartable is None:
            msg = "this server was not started restartable"
            raise RuntimeError(msg)
        self.server = self.restartable.restart()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.server.url

    def client(self, user_id: str) -> contextlib.AbstractAsyncContextManager[LangGraphClient]:
        """An SDK client acting as `user_id` (a fresh valid HS256 token)."""
        return sdk_client(self.url, token=self.keys.token(user_id))


@contextlib.contextmanager
def auth_server_with(
    engine: str, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, **extra_env: str
) -> Iterator[AuthServer]:
    """An auth-enabled `engine` (ephemeral sandboxes) in fresh folders, restartable in place; `extra_env` on top.

    The session's shared `auth_server` is one of these; a test module starts its own for settings
    the shared one cannot carry (e.g. small budgets).
    """
    paths = make_e2e_paths(tmp_path_factory.mktemp(f"e2e-auth-{engine}"))
    keys = AuthKeys(jwks_file=paths.server_home / "jwks.json")
    env = server_env(scripted_llm, paths, sandbox_image, **keys.env(), **extra_env)
    try:
        with restartable(engine, workdir=paths.server_home, env=env) as running:
            yield AuthServer(server=running.server, keys=keys, paths=paths, engine=engine, restartable=running)
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)


CONTRACT_FIXTURES = frozenset({"engine_server", "restartable_server"})
"""A test using one of these is part of the contract suite."""
CONTRACT_USER = "user-a"
"""Who the contract suite's `engine_client` acts as."""
