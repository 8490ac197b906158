"""MCP tools end to end: a real server with `MCP_SERVERS_FILE`, the scripted model calling `<server>__<tool>`.

Two servers: `probe`, a plain-python stdio server shipped under `/shared` (it runs in
the thread's sandbox), and `notes`, a FastMCP streamable-HTTP server on 127.0.0.1 in
this test process. Every MCP call pauses for approval with its arguments shown; after
approve the result comes back; a server that crashes during a call gives the model a
tool error and the run still finishes.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from sandbox.containers.container_spec import LABEL_MODE
from sandbox.mcp.launch import MCP_MODE_LABEL
from tests.support.agent_client import approve, create_assistant, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.agent_processes import thread_containers
from tests.support.e2e_servers import AuthServer, auth_server_with
from tests.support.engines import AEGRA, LANGGRAPH_DEV
from tests.support.mcp_servers import SHARED_PATH, http_server, install_stdio_server, notes_app, servers_file
from tests.support.scripted_llm import ScriptedLLM, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


SETUPS = [(LANGGRAPH_DEV, "ephemeral"), (LANGGRAPH_DEV, "session"), (AEGRA, "session")]
"""(engine, sandbox mode): Aegra runs two processes, each with its own sessions (docs/mcp.md)."""


@pytest.fixture(scope="module", params=SETUPS, ids=[f"{engine}-{mode}" for engine, mode in SETUPS])
def server(
    request: pytest.FixtureRequest, scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[AuthServer]:
    """A server (each engine and sandbox mode) whose MCP_SERVERS_FILE lists the stdio probe (in the sandbox) and the HTTP notes server."""
    with http_server(notes_app()) as notes_url:
        listing = servers_file(
            tmp_path_factory.mktemp("mcp") / "mcp.json",
            {
                "probe": {"command": "python3", "args": [f"/shared/{SHARED_PATH}"], "env": {"PROBE_SECRET": "from-the-admin"}},
                "notes": {"url": notes_url, "transport": "streamable_http"},
            },
        )
        engine, mode = request.param
        with auth_server_with(
            engine, scripted_llm, tmp_path_factory, sandbox_image, MCP_SERVERS_FILE=str(listing), SANDBOX_MODE=mode
        ) as running:
            install_stdio_server(running.paths.shared)
            yield running


async def _turn(
    server: AuthServer, llm: ScriptedLLM, user: str, thread_id: str, tool: str, **args: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The agent calls `tool(**args)`, the run pauses, the owner approves; (the action request, the tool's message)."""
    trigger = f"mcp-{tool}-{uuid.uuid4().hex[:8]}"
    llm.add_scenario(trigger, call(tool, **args), say(f"finished {trigger}"))
    async with server.client(user) as client:
        first = await stream_run(client, thread_id, input=user_input(f"please ({trigger})"))
        assert not first.errors, first.describe()
        [action] = first.action_requests
        second = await stream_run(client, thread_id, command=resume(approve()))
        assert not second.errors, second.describe()
        assert second.final_ai_text == f"finished {trigger}", second.describe()
        answers = tool_messages(await thread_state(client, thread_id), tool)
    assert answers, f"the agent's {tool} call left no tool message"
    return action, answers[-1]


async def _thread(server: AuthServer, user: str) -> str:
    async with server.client(user) as client:
        return str((await client.threads.create())["thread_id"])


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


async def test_a_stdio_tool_pauses_with_its_arguments_and_runs_in_the_sandbox(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    thread_id = await _thread(server, user)
    action, answer = await _turn(server, scripted_llm, user, thread_id, "probe__read_file", path="/shared/shared-readme.txt")
    assert action["name"] == "probe__read_file"
    assert action["args"] == {"path": "/shared/shared-readme.txt"}
    assert action["details"]["mcp_server"] == "probe"
    assert "read_file of MCP server 'probe'" in action["description"]
    assert "/shared/shared-readme.txt" in action["description"]
    assert answer.get("status") != "error", answer
    assert _text(answer) == "shared material for every sandbox\n"

    _, first = await _turn(server, scripted_llm, user, thread_id, "probe__whoami")
    seen = json.loads(_text(first))
    assert seen["hostname"] != socket.gethostname()
    assert {"workspace", "shared"} <= set(seen["root"])
    assert seen["secret"] == "from-the-admin"
    # The same session serves the thread's next call: the same server process answers (on Aegra,
    # each of its processes holds its own session, so a call served by the other one meets another copy).
    _, second = await _turn(server, scripted_llm, user, thread_id, "probe__whoami")
    if server.engine == LANGGRAPH_DEV:
        assert json.loads(_text(second))["pid"] == seen["pid"]

    # The reviewer's answers are audited like every other tool's.
    log = Path(server.paths.server_home) / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert any(r.get("tool") == "probe__read_file" and r.get("decision") == "approve" for r in records), records[-5:]
    calls = [r for r in records if r.get("event") == "mcp" and r.get("thread") == thread_id]
    assert [(r["server"], r["tool"], r.get("error")) for r in calls] == [
        ("probe", "read_file", None),
        ("probe", "whoami", None),
        ("probe", "whoami", None),
    ]


async def test_an_http_tool_runs_after_approval(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    thread_id = await _thread(server, user)
    action, answer = await _turn(server, scripted_llm, user, thread_id, "notes__add_note", text="buy milk")
    assert action["args"] == {"text": "buy milk"}
    assert answer.get("status") != "error", answer
    assert "buy milk" in _text(answer)


async def test_a_server_that_crashes_is_a_tool_error_and_the_run_finishes(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    thread_id = await _thread(server, user)
    _, crashed = await _turn(server, scripted_llm, user, thread_id, "probe__crash")
    assert crashed.get("status") == "error", crashed
    assert "'probe'" in _text(crashed)
    log = Path(server.paths.server_home) / "audit.jsonl"
    [record] = [
        r
        for line in log.read_text(encoding="utf-8").splitlines()
        if (r := json.loads(line)).get("event") == "mcp" and r.get("tool") == "crash" and r.get("thread") == thread_id
    ]
    assert "failed during the call" in record["error"]
    # The next call starts the server again.
    _, after = await _turn(server, scripted_llm, user, thread_id, "probe__echo", text="back")
    assert _text(after) == "back"


async def test_deleting_the_thread_ends_its_servers(
    server: AuthServer, scripted_llm: ScriptedLLM, docker_api: docker.APIClient, request: pytest.FixtureRequest
) -> None:
    _, mode = request.node.callspec.params["server"]
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    thread_id = await _thread(server, user)
    _, answer = await _turn(server, scripted_llm, user, thread_id, "probe__echo", text="hi")
    assert _text(answer) == "hi"
    # Ephemeral mode: the stdio server has a container of its own, labelled with the thread; session mode: the thread's.
    modes = {c["Labels"].get(LABEL_MODE) for c in thread_containers(docker_api, thread_id)}
    assert (MCP_MODE_LABEL if mode == "ephemeral" else "session") in modes, modes
    async with server.client(user) as client:
        await client.threads.delete(thread_id)
    assert thread_containers(docker_api, thread_id, all=True) == []


async def test_an_assistant_narrows_the_servers_its_agent_gets(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    """`mcp_servers` on an assistant: the model is offered only those servers' tools, and a call to another's does not run."""
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    trigger = f"mcp-narrow-{uuid.uuid4().hex[:8]}"
    scripted_llm.add_scenario(trigger, call("probe__echo", text="leak"), say(f"finished {trigger}"))
    async with server.client(user) as client:
        notes_only = await create_assistant(client, f"notes-only-{trigger}", {"mcp_servers": ["notes"]})
        thread_id = (await client.threads.create())["thread_id"]
        first = await stream_run(client, thread_id, input=user_input(f"please ({trigger})"), assistant_id=notes_only["assistant_id"])
        assert not first.errors, first.describe()
        if first.action_requests:  # an MCP call asks by default: the refusal comes once it is approved
            second = await stream_run(client, thread_id, command=resume(approve()), assistant_id=notes_only["assistant_id"])
            assert not second.errors, second.describe()
        [refused] = tool_messages(await thread_state(client, thread_id), "probe__echo")
        # A run may not widen (or set) the list; a malformed list is refused when the assistant is made.
        with pytest.raises(httpx.HTTPStatusError) as run_level:
            await client.runs.create(thread_id, notes_only["assistant_id"], input=user_input("x"), context={"mcp_servers": ["probe"]})
        assert run_level.value.response.status_code == 422
        with pytest.raises(httpx.HTTPStatusError) as malformed:
            await create_assistant(client, f"bad-{trigger}", {"mcp_servers": "probe"})
        assert malformed.value.response.status_code == 422
    assert refused.get("status") == "error", refused
    assert "not enabled for this assistant" in _text(refused)
    offered = {name for request in scripted_llm.requests_for(trigger) for name in request.tool_names}
    assert "notes__add_note" in offered, offered
    assert not {name for name in offered if name.startswith("probe__")}, offered


async def test_a_subagent_gets_the_servers_tools_through_the_same_gate(server: AuthServer, scripted_llm: ScriptedLLM) -> None:
    """The `task` subagent is offered the MCP tools too; its call pauses like the main agent's and runs once approved."""
    user = f"mcp-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    sub = f"mcp-sub-{tag}"
    scripted_llm.add_scenario(sub, call("probe__echo", text=f"from the subagent {tag}"), say(f"subagent finished {tag}"))
    scripted_llm.add_scenario(
        f"mcp-task-{tag}", call("task", description=f"echo it ({sub})", subagent_type="general-purpose"), say(f"finished {tag}")
    )
    thread_id = await _thread(server, user)
    async with server.client(user) as client:
        first = await stream_run(client, thread_id, input=user_input(f"delegate (mcp-task-{tag})"))
        assert not first.errors, first.describe()
        [action] = first.action_requests
        assert action["name"] == "probe__echo", action
        assert action["details"]["mcp_server"] == "probe"
        second = await stream_run(client, thread_id, command=resume(approve()))
        assert not second.errors, second.describe()
        assert second.final_ai_text == f"finished {tag}", second.describe()
        [task_answer] = tool_messages(await thread_state(client, thread_id), "task")
    assert f"subagent finished {tag}" in _text(task_answer)
    offered = {name for request in scripted_llm.requests_for(sub) for name in request.tool_names}
    assert {"probe__echo", "notes__add_note"} <= offered, offered
    [echoed] = [
        message
        for request in scripted_llm.requests_for(sub)
        for message in request.messages
        if message.get("role") == "tool" and f"from the subagent {tag}" in str(message.get("content"))
    ]
    assert echoed
    log = Path(server.paths.server_home) / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    calls = [r for r in records if r.get("event") == "mcp" and r.get("thread") == thread_id]
    assert [(r["server"], r["tool"], r.get("error")) for r in calls] == [("probe", "echo", None)]
