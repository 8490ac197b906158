"""Which thread, user and image a call serves: from the run's config, never from client input.

No Docker: thread resolution and the host-side file tools need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from config.identity import SINGLE_USER_ID
from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings, ThreadRef
from sandbox.runs.errors import InvalidThreadIdError, SandboxError
from sandbox.runs.run_context import current_run_id, run_id_of, thread_ref_from


@pytest.fixture
def deployment(tmp_path: Path) -> SandboxDeployment:
    (tmp_path / "shared").mkdir()
    settings = SandboxSettings(
        image="img:default", workspaces_dir=tmp_path / "workspaces", shared_dir=tmp_path / "shared", memories_dir=tmp_path / "memories"
    )
    return SandboxDeployment(settings)


def test_thread_user_and_image_come_from_config_and_context() -> None:
    config = {"configurable": {"thread_id": "t-1", "langgraph_auth_user_id": "alice"}}
    ref = thread_ref_from(config, {"sandbox_image": "img:node"}, default_image="img:default")
    assert ref == ThreadRef(user_id="alice", thread_id="t-1", image="img:node")


@pytest.mark.parametrize("user", [None, ""])
def test_missing_or_empty_user_is_the_single_user(user: str | None) -> None:
    config: dict[str, Any] = {"configurable": {"thread_id": "t-1"}}
    if user is not None:
        config["configurable"]["langgraph_auth_user_id"] = user
    ref = thread_ref_from(config, None, default_image="img:default")
    assert ref.user_id == SINGLE_USER_ID == "local"
    assert ref.image == "img:default"


def test_the_user_object_aegra_sets_names_the_user_too() -> None:
    class AegraUser:
        identity = "alice"

    for user in (AegraUser(), {"identity": "alice"}):
        ref = thread_ref_from({"configurable": {"thread_id": "t-1", "langgraph_auth_user": user}}, None, default_image="i")
        assert ref.user_id == "alice"
    # langgraph_api sets both; its id wins.
    both = {"thread_id": "t-1", "langgraph_auth_user_id": "alice", "langgraph_auth_user": {"identity": "other"}}
    assert thread_ref_from({"configurable": both}, None, default_image="i").user_id == "alice"


def test_user_id_is_never_read_from_metadata_or_context() -> None:
    config = {"configurable": {"thread_id": "t-1"}, "metadata": {"langgraph_auth_user_id": "mallory", "user_id": "mallory"}}
    ref = thread_ref_from(config, {"langgraph_auth_user_id": "mallory", "user_id": "mallory"}, default_image="i")
    assert ref.user_id == SINGLE_USER_ID


def test_the_run_id_is_read_where_either_server_puts_it() -> None:
    assert run_id_of({"configurable": {"run_id": "r-1"}}) == "r-1"  # both servers
    assert run_id_of({"run_id": "r-2", "configurable": {}}) == "r-2"  # Aegra, at the top as well
    assert run_id_of({"metadata": {"run_id": "r-3"}}) == "r-3"
    assert run_id_of({"configurable": {"run_id": ""}}) is None
    assert current_run_id() is None  # outside a graph step


def test_no_thread_is_a_clear_error() -> None:
    with pytest.raises(SandboxError, match="no LangGraph thread is active"):
        thread_ref_from({}, None, default_image="i")


@pytest.mark.parametrize("thread_id", ["../etc", "a/b", ".", "..", "-x", "x" * 129])
def test_unsafe_thread_ids_are_refused(thread_id: str) -> None:
    with pytest.raises(InvalidThreadIdError):
        thread_ref_from({"configurable": {"thread_id": thread_id}}, None, default_image="i")


def test_unbound_backend_outside_a_run(deployment: SandboxDeployment) -> None:
    box = DockerSandbox.for_runs(deployment)
    assert box.id == "docker-sandbox:unbound"
    with pytest.raises(SandboxError):
        box.ls("/workspace")


def test_bound_backend_serves_its_thread_as_the_single_user(deployment: SandboxDeployment) -> None:
    box = DockerSandbox("fixed", deployment)
    assert box.thread() == ThreadRef(user_id=SINGLE_USER_ID, thread_id="fixed", image="img:default")
    assert box.id == "docker-sandbox:fixed"
    with pytest.raises(InvalidThreadIdError):
        DockerSandbox("../x", deployment)


class _State(TypedDict):
    seen: list[Any]


def _graph(box: DockerSandbox, *, use_async: bool) -> Any:
    def node(_: _State) -> dict[str, Any]:
        assert box.write("/workspace/who.txt", box.user_id).error is None
        return {"seen": [box.thread(), box.id]}

    async def anode(_: _State) -> dict[str, Any]:
        assert (await box.awrite("/workspace/who.txt", box.user_id)).error is None
        return {"seen": [box.thread(), box.id, (await box.aread("/workspace/who.txt")).file_data]}

    builder = StateGraph(_State, context_schema=dict)
    builder.add_node("n", anode if use_async else node)
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    return builder.compile()


def test_run_resolving_backend_serves_each_runs_thread(deployment: SandboxDeployment) -> None:
    box = DockerSandbox.for_runs(deployment)
    graph = _graph(box, use_async=False)
    for thread_id, user in (("thread-a", "alice"), ("thread-b", None)):
        configurable = {"thread_id": thread_id} | ({"langgraph_auth_user_id": user} if user else {})
        out = graph.invoke({"seen": []}, config={"configurable": configurable}, context={"sandbox_image": "img:node"})
        expected_user = user or SINGLE_USER_ID
        assert out["seen"] == [ThreadRef(user_id=expected_user, thread_id=thread_id, image="img:node"), f"docker-sandbox:{thread_id}"]
        assert (deployment.settings.workspaces_dir / thread_id / "who.txt").read_text() == expected_user


async def test_async_calls_resolve_the_thread_before_leaving_the_event_loop(deployment: SandboxDeployment) -> None:
    box = DockerSandbox.for_runs(deployment)
    out = await _graph(box, use_async=True).ainvoke(
        {"seen": []}, config={"configurable": {"thread_id": "thread-c", "langgraph_auth_user_id": "carol"}}
    )
    ref, box_id, data = out["seen"]
    assert ref == ThreadRef(user_id="carol", thread_id="thread-c", image="img:default")
    assert box_id == "docker-sandbox:thread-c"
    assert data["content"] == "carol"
    assert (deployment.settings.workspaces_dir / "thread-c" / "who.txt").read_text() == "carol"
