"""The agent's background processes, driven the way a person does: a scripted turn asks for one, the owner approves.

`tests/e2e/test_agent_previews.py` uses these to have the agent start, stop and list
processes through the real server (langgraph-sdk, the scripted LLM), then looks at
what they left in Docker. They live here so that no test module imports another.
"""

from __future__ import annotations

import uuid
from typing import Any

import docker

from sandbox.containers.container_spec import LABEL_THREAD, label_filter
from tests.support.agent_client import approve, resume, stream_run, thread_state, tool_messages, user_input
from tests.support.e2e_servers import AuthServer
from tests.support.scripted_llm import ScriptedLLM, call, say
from tests.support.scripted_llm import message_text as content_text

STARTED = "Started background process "


async def agent_tool_call(
    server: AuthServer, llm: ScriptedLLM, user: str, thread_id: str, tool: str, *, approved: bool, **args: Any
) -> str:
    """One turn in which the agent calls `tool(**args)` (approved by the owner when it pauses); the tool's answer."""
    trigger = f"agent-{tool}-{uuid.uuid4().hex[:8]}"
    llm.add_scenario(trigger, call(tool, **args), say("done"))
    async with server.client(user) as client:
        first = await stream_run(client, thread_id, input=user_input(f"please ({trigger})"))
        assert not first.errors, first.describe()
        if approved:
            [action] = first.action_requests
            assert action["name"] == tool, action
            second = await stream_run(client, thread_id, command=resume(approve()))
            assert not second.errors, second.describe()
        else:
            assert not first.action_requests, first.describe()
        answers = tool_messages(await thread_state(client, thread_id), tool)
    assert answers, f"the agent's {tool} call left no tool message"
    return content_text(answers[-1])


async def agent_starts(server: AuthServer, llm: ScriptedLLM, user: str, thread_id: str, command: str) -> str:
    """The agent starts `command` in the background, approved; the process id its tool answered with."""
    text = await agent_tool_call(server, llm, user, thread_id, "start_process", approved=True, command=command)
    assert text.startswith(STARTED), text
    return text.removeprefix(STARTED).split()[0]


def thread_containers(api: docker.APIClient, thread_id: str, *, all: bool = False) -> list[dict[str, Any]]:
    """The thread's containers in Docker (running ones unless `all`), whoever started them."""
    found: list[dict[str, Any]] = api.containers(all=all, filters=label_filter({LABEL_THREAD: thread_id}))
    return found


def run_in(api: docker.APIClient, container_id: str, argv: list[str], user: str = "65534:65534") -> str:
    """Run `argv` in a container as an unprivileged user; its stdout (it must succeed)."""
    exec_id = api.exec_create(container_id, argv, user=user)["Id"]
    out = api.exec_start(exec_id, demux=True)
    stdout, stderr = out if isinstance(out, tuple) else (out, b"")
    code = api.exec_inspect(exec_id).get("ExitCode")
    assert code == 0, (argv, code, stderr)
    return (stdout or b"").decode()
