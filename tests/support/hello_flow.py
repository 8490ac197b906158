# ruff: noqa: RUF001  (the product's prompts are Chinese, with full-width punctuation)
"""The first task a person gives the agent (write hello.py, run it), shared by the e2e and browser tests.

The e2e flow runs on every engine and with authentication on; the browser tests use the
same prompt and file. It lives here so no test module imports another.
"""

from __future__ import annotations

from langgraph_sdk.client import LangGraphClient

from tests.support.agent_client import (
    approve,
    last_ai_text,
    pending_interrupt_values,
    resume,
    stream_run,
    thread_state,
    tool_messages,
    user_input,
)
from tests.support.langgraph_server import E2EPaths
from tests.support.scripted_llm import ScriptedLLM, call, echo_last_tool_output, say
from tests.support.scripted_llm import message_text as content_text

HELLO_PROMPT = "创建一个hello.py文件，输出'Hello World'"
HELLO_SOURCE = "print('Hello World')\n"
HELLO_COMMAND = "cd /workspace && python3 hello.py"


async def write_then_execute_with_approvals(engine_client: LangGraphClient, scripted_llm: ScriptedLLM, engine_paths: E2EPaths) -> None:
    """The README's first run over the API: write hello.py, run it, each step approved; asserts every pause and result."""
    scripted_llm.add_scenario(
        HELLO_PROMPT,
        call("write_file", file_path="/workspace/hello.py", content=HELLO_SOURCE),
        call("execute", command=HELLO_COMMAND),
        say(echo_last_tool_output("执行结果：")),
    )
    thread_id = (await engine_client.threads.create())["thread_id"]
    hello = engine_paths.workspace(thread_id) / "hello.py"

    # 1. The run pauses before write_file runs.
    first = await stream_run(engine_client, thread_id, input=user_input(HELLO_PROMPT))
    assert not first.errors, first.describe()
    assert [a["name"] for a in first.action_requests] == ["write_file"], first.describe()
    assert first.action_requests[0]["args"] == {"file_path": "/workspace/hello.py", "content": HELLO_SOURCE}
    [hitl] = first.interrupt_values
    assert [c["action_name"] for c in hitl["review_configs"]] == ["write_file"], hitl
    assert {"approve", "edit", "reject"} <= set(hitl["review_configs"][0]["allowed_decisions"]), hitl

    state = await thread_state(engine_client, thread_id)
    assert state["next"], "a paused thread has a next node"
    pending = pending_interrupt_values(state)
    assert [a["name"] for v in pending for a in v["action_requests"]] == ["write_file"], pending
    assert not hello.exists(), "write_file ran before it was approved"

    # 2. Approving write_file runs it, then the run pauses before execute.
    second = await stream_run(engine_client, thread_id, command=resume(approve()))
    assert not second.errors, second.describe()
    assert [a["name"] for a in second.action_requests] == ["execute"], second.describe()
    assert second.action_requests[0]["args"] == {"command": HELLO_COMMAND}
    assert hello.read_text(encoding="utf-8") == HELLO_SOURCE

    # 3. Approving execute runs the script in the sandbox; its output reaches the model and the client.
    third = await stream_run(engine_client, thread_id, command=resume(approve()))
    assert not third.errors, third.describe()
    assert not third.interrupts, third.describe()
    assert "Hello World" in third.final_ai_text, third.describe()

    state = await thread_state(engine_client, thread_id)
    assert not state["next"], state["next"]
    [executed] = tool_messages(state, "execute")
    assert "Hello World" in content_text(executed), executed
    assert "Hello World" in last_ai_text(state)

    seen = scripted_llm.requests_for(HELLO_PROMPT)
    assert any("Hello World" in output for r in seen for output in r.tool_outputs()), [r.tool_outputs() for r in seen]
