"""The permission policy end to end: a real `langgraph dev` with an administrator's `POLICY_FILE`.

Driven through `langgraph-sdk` and the scripted model: a denied call answers the
agent with a tool error naming the rule and the run goes on (nothing ran); an
`ask` rule pauses with the rule in the interrupt's details; an allow rule lets
writes under `src/` through; an assistant's or a run's own rule cannot loosen the
administrator's; the web client's own file actions are refused on denied paths.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import content_text, reject, resume, sdk_client, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import make_e2e_paths, server_env
from tests.support.langgraph_server import E2EPaths, LangGraphServer, run_langgraph_dev
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.workspace_seed import thread_with_files
from tests.support.workspaces import remove_workspaces_under

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

ADMIN_RULES = [
    {"name": "no pushing", "commands": ["git push"], "mode": "deny"},
    {"name": "no secrets", "paths": ["**/.env"], "mode": "deny"},
    {"name": "rm -rf pauses", "commands": ["rm -rf"], "mode": "ask"},
    {"name": "src is free", "tools": ["write_file", "edit_file"], "paths": ["src/**"], "mode": "allow"},
]


@pytest.fixture(scope="module")
def policy_server(
    scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str
) -> Iterator[tuple[LangGraphServer, E2EPaths]]:
    paths = make_e2e_paths(tmp_path_factory.mktemp("e2e-policy"))
    policy_file = paths.server_home / "policy.json"
    policy_file.write_text(json.dumps({"rules": ADMIN_RULES}), encoding="utf-8")
    env = server_env(scripted_llm, paths, sandbox_image, POLICY_FILE=str(policy_file))
    try:
        with run_langgraph_dev(workdir=paths.server_home, env=env) as server:
            yield server, paths
    finally:
        remove_workspaces_under(paths.workspaces, paths.memories)


@pytest.fixture
async def client(policy_server: tuple[LangGraphServer, E2EPaths]) -> AsyncIterator[LangGraphClient]:
    async with sdk_client(policy_server[0].url) as sdk:
        yield sdk


def _trigger(label: str) -> str:
    return f"policy-{label}-{uuid.uuid4().hex[:8]}"


async def test_a_denied_call_gets_a_tool_error_naming_the_rule_and_the_run_goes_on(
    client: LangGraphClient, scripted_llm: ScriptedLLM, policy_server: tuple[LangGraphServer, E2EPaths]
) -> None:
    paths = policy_server[1]
    thread_id = await thread_with_files(client, paths, {".env": "TOKEN=secret\n", "notes.txt": "n\n"})
    workspace = paths.workspace(thread_id)
    os.symlink(".env", workspace / "innocent.txt")  # a walk-around: the rule is on where the path leads

    read = _trigger("read")
    scripted_llm.add_scenario(read, call("read_file", file_path="/workspace/innocent.txt"), say(echo_last_tool_output("read: ")))
    run = await stream_run(client, thread_id, input=user_input(f"read it ({read})"))
    assert not run.errors, run.describe()
    assert not run.interrupts, run.describe()
    [refusal] = tool_messages(await thread_state(client, thread_id), "read_file")
    assert refusal.get("status") == "error", refusal
    assert "admin rule 2 'no secrets'" in content_text(refusal)
    assert "TOKEN=secret" not in json.dumps(await thread_state(client, thread_id))
    assert run.final_ai_text.startswith("read: Denied by the permission policy"), run.describe()

    push = _trigger("push")
    command = "touch /workspace/pushed && git push origin main"
    scripted_llm.add_scenario(push, call("execute", command=command), say("pushed?"))
    run = await stream_run(client, thread_id, input=user_input(f"push ({push})"))
    assert not run.errors, run.describe()
    assert not run.interrupts, run.describe()  # nobody is asked about a call that may not run
    [denied] = tool_messages(await thread_state(client, thread_id), "execute")
    assert "admin rule 1 'no pushing'" in content_text(denied)
    assert not (workspace / "pushed").exists(), "a denied command ran"
    assert run.final_ai_text == "pushed?"


async def test_an_ask_rule_pauses_with_the_rule_shown_even_when_the_assistant_allows(
    client: LangGraphClient, scripted_llm: ScriptedLLM, policy_server: tuple[LangGraphServer, E2EPaths]
) -> None:
    assistant = await client.assistants.create(
        graph_id="agent",
        context={"policy_rules": [{"name": "cleanups are fine", "commands": ["rm -rf"], "mode": "allow"}]},
        name=f"policy-{uuid.uuid4().hex[:6]}",
    )
    thread_id = await thread_with_files(client, policy_server[1], {"build/out.o": "o"})
    trigger = _trigger("rm")
    scripted_llm.add_scenario(trigger, call("execute", command="rm -rf /workspace/build"), say("cleaned"))
    paused = await stream_run(client, thread_id, input=user_input(f"clean ({trigger})"), assistant_id=assistant["assistant_id"])
    [action] = paused.action_requests
    assert action["args"]["command"] == "rm -rf /workspace/build"
    policy = action["details"]["policy"]
    assert policy["decision"] == "ask"
    assert policy["rule"] == "admin rule 3 'rm -rf pauses'"
    assert "file tools only" in policy["not_covered"]  # file rules do not bind what a command reads
    assert "admin rule 3 'rm -rf pauses'" in action["description"]
    assert (policy_server[1].workspace(thread_id) / "build" / "out.o").exists()
    done = await stream_run(client, thread_id, command=resume(reject("no")), assistant_id=assistant["assistant_id"])
    assert not done.errors, done.describe()
    assert (policy_server[1].workspace(thread_id) / "build" / "out.o").exists()


async def test_writes_under_src_need_no_approval_and_a_run_rule_cannot_loosen_a_deny(
    client: LangGraphClient, scripted_llm: ScriptedLLM, policy_server: tuple[LangGraphServer, E2EPaths]
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    trigger = _trigger("src")
    scripted_llm.add_scenario(trigger, call("write_file", file_path="/workspace/src/app.py", content="print(1)\n"), say("written"))
    run = await stream_run(client, thread_id, input=user_input(f"write ({trigger})"))
    assert not run.errors, run.describe()
    assert not run.interrupts, run.describe()
    assert (policy_server[1].workspace(thread_id) / "src" / "app.py").read_text() == "print(1)\n"

    trigger = _trigger("loosen")
    scripted_llm.add_scenario(trigger, call("write_file", file_path="/workspace/src/.env", content="X=1\n"), say("tried"))
    loosen = {"user_rules": [{"paths": ["**"], "mode": "allow"}]}
    run = await stream_run(client, thread_id, input=user_input(f"write env ({trigger})"), context=loosen)
    assert not run.errors, run.describe()
    assert not run.interrupts, run.describe()
    assert not (policy_server[1].workspace(thread_id) / "src" / ".env").exists()
    refusals = [content_text(m) for m in tool_messages(await thread_state(client, thread_id), "write_file")]
    assert any("admin rule 2 'no secrets'" in text for text in refusals), refusals


async def test_malformed_rules_are_refused_before_a_run(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as bad:
        await client.runs.create(thread_id, "agent", input=user_input("hi"), context={"user_rules": [{"mode": "perhaps"}]})
    assert bad.value.response.status_code == 422
    assert "mode must be" in bad.value.response.text
    with pytest.raises(httpx.HTTPStatusError) as run_level:
        await client.runs.create(thread_id, "agent", input=user_input("hi"), context={"policy_rules": []})
    assert run_level.value.response.status_code == 422
    assert await client.runs.list(thread_id) == []


async def test_the_web_clients_file_actions_are_refused_on_denied_paths(
    client: LangGraphClient, policy_server: tuple[LangGraphServer, E2EPaths]
) -> None:
    server, paths = policy_server
    thread_id = await thread_with_files(client, paths, {".env": "T=1\n", "keep.txt": "k\n"})
    workspace = paths.workspace(thread_id)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        deleted = await http.delete(f"/files/{thread_id}/content", params={"path": "/workspace/.env"})
        renamed = await http.post(f"/files/{thread_id}/rename", params={"path": "/workspace/keep.txt", "to": "/workspace/.env.bak/.env"})
        uploaded = await http.put(f"/files/{thread_id}/content", params={"path": "/workspace/app/.env"}, content=b"X=1\n")
        allowed = await http.delete(f"/files/{thread_id}/content", params={"path": "/workspace/keep.txt"})
    for refused in (deleted, renamed, uploaded):
        assert refused.status_code == 403, refused.text
        assert "admin rule 2 'no secrets'" in refused.json()["detail"]
    assert (workspace / ".env").read_text() == "T=1\n"
    assert not (workspace / "app").exists()
    assert allowed.status_code == 200, allowed.text
    assert not (workspace / "keep.txt").exists()
