# ruff: noqa: RUF001  (Chinese prompts and replies use full-width punctuation)

"""Checks the scripted OpenAI-compatible server against the real `langchain_openai` client."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.support.scripted_llm import (
    DEFAULT_REPLY,
    END_OF_SCRIPT_REPLY,
    UNKNOWN_NAME_REPLY,
    ScriptedLLM,
    call,
    calls,
    echo_last_tool_output,
    recall_name,
    say,
)


@tool
def write_file(file_path: str, content: str) -> str:
    """Write `content` to `file_path`."""
    return f"wrote {file_path}"


@tool
def execute(command: str) -> str:
    """Run a shell command."""
    return command


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(chunk_size=5) as server:
        yield server


def _chat(llm: ScriptedLLM, *, streaming: bool) -> Any:
    model = ChatOpenAI(
        base_url=llm.base_url,
        api_key="x",  # type: ignore[arg-type]
        model="glm-4.7",
        streaming=streaming,
        stream_usage=True,
        max_retries=0,
        timeout=10,
    )
    return model.bind_tools([write_file, execute])


def _collect(chunks: Iterator[AIMessageChunk]) -> AIMessageChunk:
    parts = list(chunks)
    assert len(parts) > 1, "expected several streamed chunks"
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    return merged


PROMPT = "创建一个hello.py文件，输出'Hello World'"
CONTENT = "print('Hello World')\n"


def _script(llm: ScriptedLLM) -> None:
    llm.add_scenario(
        "hello.py",
        call("write_file", file_path="/workspace/hello.py", content=CONTENT),
        call("execute", command="cd /workspace && python3 hello.py"),
        say(echo_last_tool_output()),
    )


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "json"])
def test_tool_calls_then_text(llm: ScriptedLLM, *, streaming: bool) -> None:
    _script(llm)
    chat = _chat(llm, streaming=streaming)
    history: list[Any] = [HumanMessage(PROMPT)]

    first = _collect(chat.stream(history)) if streaming else chat.invoke(history)
    assert first.tool_calls == [
        {
            "name": "write_file",
            "args": {"file_path": "/workspace/hello.py", "content": CONTENT},
            "id": first.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]
    assert first.response_metadata.get("finish_reason") == "tool_calls"
    if streaming:
        assert first.usage_metadata is not None
        assert first.usage_metadata["total_tokens"] > 0
    history += [
        AIMessage(content=first.content, tool_calls=first.tool_calls),
        ToolMessage("Updated file /workspace/hello.py", tool_call_id=first.tool_calls[0]["id"]),
    ]

    second = _collect(chat.stream(history)) if streaming else chat.invoke(history)
    assert [c["name"] for c in second.tool_calls] == ["execute"]
    assert second.tool_calls[0]["args"] == {"command": "cd /workspace && python3 hello.py"}
    history += [
        AIMessage(content="", tool_calls=second.tool_calls),
        ToolMessage("Hello World\n[Command succeeded with exit code 0]", tool_call_id=second.tool_calls[0]["id"]),
    ]

    final = _collect(chat.stream(history)) if streaming else chat.invoke(history)
    assert not final.tool_calls
    assert "Hello World" in final.content
    assert final.response_metadata.get("finish_reason") == "stop"

    history += [AIMessage(content=final.content)]
    assert chat.invoke(history).content == END_OF_SCRIPT_REPLY

    recorded = llm.requests_for("hello.py")
    assert [r.step for r in recorded] == [0, 1, 2, 3]
    assert "Hello World" in recorded[2].tool_outputs()[-1]
    assert recorded[0].tool_names == ["write_file", "execute"]
    assert all(r.body.get("stream", False) is streaming for r in recorded)


def test_parallel_tool_calls_stream(llm: ScriptedLLM) -> None:
    llm.add_scenario("two at once", calls(("execute", {"command": "ls"}), ("execute", {"command": "pwd"})))
    merged = _collect(_chat(llm, streaming=True).stream([HumanMessage("do two at once")]))
    assert [c["args"]["command"] for c in merged.tool_calls] == ["ls", "pwd"]
    assert len({c["id"] for c in merged.tool_calls}) == 2


def test_unknown_prompt_gets_plain_text(llm: ScriptedLLM) -> None:
    merged = _collect(_chat(llm, streaming=True).stream([HumanMessage("你好")]))
    assert merged.content == DEFAULT_REPLY
    assert not merged.tool_calls


def test_recall_name_from_conversation(llm: ScriptedLLM) -> None:
    llm.add_scenario("记住：", say("好的，我记住了。"))
    llm.add_scenario("我叫什么名字", say(recall_name))
    chat = _chat(llm, streaming=False)
    history: list[Any] = [HumanMessage("记住：我的名字是Alice")]
    history.append(AIMessage(chat.invoke(history).content))
    history.append(HumanMessage("我叫什么名字？"))
    assert "Alice" in chat.invoke(history).content
    assert chat.invoke([HumanMessage("我叫什么名字？")]).content == UNKNOWN_NAME_REPLY


def test_records_the_system_prompt(llm: ScriptedLLM) -> None:
    llm.add_scenario("system check", say("ok"))
    _chat(llm, streaming=False).invoke([SystemMessage("you are a test agent"), HumanMessage("system check")])
    [recorded] = llm.requests_for("system check")
    assert recorded.system_text == "you are a test agent"


def test_models_endpoint_and_bare_path(llm: ScriptedLLM) -> None:
    with urllib.request.urlopen(f"{llm.base_url}/models", timeout=5) as response:
        assert json.load(response)["data"][0]["id"] == "glm-4.7"
    request = urllib.request.Request(
        f"http://127.0.0.1:{llm.port}/chat/completions",
        data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["choices"][0]["message"]["content"] == DEFAULT_REPLY


def test_concurrent_conversations_do_not_interfere(llm: ScriptedLLM) -> None:
    llm.add_scenario("alpha", say("A"))
    llm.add_scenario("beta", call("execute", command="echo b"), say("B"))
    chat = _chat(llm, streaming=True)
    errors: list[BaseException] = []

    def worker(prompt: str, expected: str | None) -> None:
        try:
            for _ in range(10):
                merged = _collect(chat.stream([HumanMessage(prompt)]))
                if expected is None:
                    assert merged.tool_calls[0]["args"] == {"command": "echo b"}
                else:
                    assert merged.content == expected
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=a) for a in [("alpha", "A"), ("beta", None)] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(llm.requests) == 60
