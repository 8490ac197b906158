"""Which server `server.engine` asks: the one running in this process, never a fresh one it would import."""

from __future__ import annotations

import sys
import types

import pytest

from server import engine


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, engine.AEGRA_MODULE, raising=False)
    monkeypatch.delitem(sys.modules, engine.LANGGRAPH_API_MODULE, raising=False)


@pytest.mark.usefixtures("no_server")
async def test_without_a_running_server_it_refuses_instead_of_starting_one() -> None:
    with pytest.raises(engine.EngineUnavailableError):
        await engine.thread_exists("00000000-0000-0000-0000-000000000000")
    # Asking must not have imported langgraph_api's server (a second, empty, in-memory server).
    assert engine.LANGGRAPH_API_MODULE not in sys.modules


@pytest.mark.usefixtures("no_server")
def test_the_running_server_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, engine.LANGGRAPH_API_MODULE, types.ModuleType(engine.LANGGRAPH_API_MODULE))
    assert engine.serving_engine().name == "langgraph_api"
    # Aegra never loads langgraph_api's server; if both are loaded, Aegra is the one that runs.
    monkeypatch.setitem(sys.modules, engine.AEGRA_MODULE, types.ModuleType(engine.AEGRA_MODULE))
    assert engine.serving_engine().name == "aegra"


def test_langgraph_api_threads_name_their_pending_interrupts() -> None:
    thread = {"interrupts": {"task-1": [{"id": "i-1", "value": {"a": 1}}], "task-2": [{"id": "i-2", "value": 2}, {"value": 3}]}}
    assert engine.pending_interrupts(thread) == {"i-1": {"a": 1}, "i-2": 2}
