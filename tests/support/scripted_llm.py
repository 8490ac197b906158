# ruff: noqa: RUF001, RUF002  (Chinese prompts and replies use full-width punctuation)

"""A scripted, OpenAI-compatible chat-completions server for end-to-end tests.

The agent under test talks to an OpenAI-compatible endpoint (`ZHIPUAI_API_BASE`).
Tests point it at a `ScriptedLLM` instead: a stdlib HTTP server on 127.0.0.1 that
answers `POST /v1/chat/completions` (and `/chat/completions`), both as one JSON
body and as a `stream: true` server-sent-event stream, plus `GET /v1/models`.

The server is *stateless*: every reply is decided from the request's `messages`
alone, so any number of threads and runs may talk to it at once.

* A scenario is registered under a *trigger*: a substring of the **last user
  message** of the conversation. When several triggers match, the longest wins.
* The *step index* is the number of assistant messages after that last user
  message. Step 0 answers the user's prompt, step 1 answers the first tool
  result (or the human's rejection/response), and so on.
* A step either calls tools (`call(...)`, `calls(...)`) or answers with text
  (`say(...)`). A text may be a callable that receives the request's messages,
  e.g. `echo_last_tool_output()` proves the tool output reached the model.
* Past the end of a script, and for prompts with no scenario, the server answers
  with plain text.

Every request is recorded (thread-safe), so tests can assert what the model saw.

Example::

    with ScriptedLLM() as llm:
        llm.add_scenario(
            "hello.py",
            call("write_file", file_path="/workspace/hello.py", content="print(1)\\n"),
            say(echo_last_tool_output()),
        )
        ...  # point the agent at llm.base_url
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Message = dict[str, Any]
"""One OpenAI chat message as received (`{"role": ..., "content": ...}`)."""

TextSource = str | Callable[[list[Message]], str]
"""A final answer: fixed text, or a function of the request's messages."""

DEFAULT_REPLY = "好的。这是一个脚本化模型的默认回复。"
"""What the model says to a prompt no scenario matches."""

END_OF_SCRIPT_REPLY = "（脚本已结束）"
"""What the model says once a scenario has no steps left."""


# --------------------------------------------------------------------------- #
# Scripts
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model makes."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolCallStep:
    """A step in which the model calls one or more tools (in parallel)."""

    calls: tuple[ToolCall, ...]
    text: str = ""
    """Optional assistant text sent alongside the tool calls."""


@dataclass(frozen=True)
class TextStep:
    """A step in which the model answers with text and stops."""

    text: TextSource


Step = ToolCallStep | TextStep


def call(name: str, /, **args: Any) -> ToolCallStep:
    """A step that calls the tool `name` with keyword `args`."""
    return ToolCallStep(calls=(ToolCall(name=name, args=dict(args)),))


def calls(*tool_calls: tuple[str, dict[str, Any]]) -> ToolCallStep:
    """A step that calls several tools at once: `calls(("ls", {"path": "/"}), ...)`."""
    return ToolCallStep(calls=tuple(ToolCall(name=n, args=dict(a)) for n, a in tool_calls))


def say(text: TextSource) -> TextStep:
    """A step that answers with `text` (or `text(messages)` when it is callable)."""
    return TextStep(text=text)


@dataclass(frozen=True)
class Scenario:
    """The steps scripted for prompts containing `trigger`."""

    trigger: str
    steps: tuple[Step, ...]


# --------------------------------------------------------------------------- #
# Reading messages
# --------------------------------------------------------------------------- #


def message_text(message: Message) -> str:
    """The text of a message whose content is a string, a list of parts, or null."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def last_user_index(messages: Sequence[Message]) -> int | None:
    """Index of the last `user` message, or `None` when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def last_user_text(messages: Sequence[Message]) -> str:
    """Text of the last `user` message ("" when there is none)."""
    index = last_user_index(messages)
    return "" if index is None else message_text(messages[index])


def step_index(messages: Sequence[Message]) -> int:
    """Number of assistant messages after the last user message."""
    start = last_user_index(messages)
    tail = messages if start is None else messages[start + 1 :]
    return sum(1 for m in tail if m.get("role") == "assistant")


def tool_messages(messages: Sequence[Message]) -> list[Message]:
    """All `tool` messages, oldest first."""
    return [m for m in messages if m.get("role") == "tool"]


def last_tool_output(messages: Sequence[Message]) -> str:
    """Text of the latest `tool` message ("" when there is none)."""
    tools = tool_messages(messages)
    return message_text(tools[-1]) if tools else ""


def echo_last_tool_output(prefix: str = "工具输出：") -> Callable[[list[Message]], str]:
    """A final text that repeats the latest tool result, prefixed by `prefix`."""

    def render(messages: list[Message]) -> str:
        return f"{prefix}{last_tool_output(messages)}"

    return render


NAME_PATTERN = re.compile(r"我的名字是([^\s，。！？,.!?：:]+)")
"""How a user tells the model their name."""

UNKNOWN_NAME_REPLY = "我不知道你的名字。"


def recall_name(messages: list[Message]) -> str:
    """Answer "我叫什么名字？" from earlier user messages of the same conversation."""
    index = last_user_index(messages)
    earlier = messages if index is None else messages[:index]
    for message in reversed(earlier):
        if message.get("role") != "user":
            continue
        if match := NAME_PATTERN.search(message_text(message)):
            return f"你的名字是{match.group(1)}。"
    return UNKNOWN_NAME_REPLY


# --------------------------------------------------------------------------- #
# Recording
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Reply:
    """What the server decided to answer."""

    text: str = ""
    tool_calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    """`(id, name, args)` for each tool call."""

    @property
    def finish_reason(self) -> str:
        """`tool_calls` when any tool is called, else `stop`."""
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class RecordedRequest:
    """One chat-completions request the server received, with its reply."""

    path: str
    body: dict[str, Any]
    trigger: str | None
    step: int
    reply: Reply | None
    received_at: float = field(default_factory=time.time)

    @property
    def messages(self) -> list[Message]:
        """The request's `messages`."""
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the client offered the model."""
        names: list[str] = []
        for tool in self.body.get("tools") or []:
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                names.append(function["name"])
        return names

    @property
    def last_user_text(self) -> str:
        """Text of the conversation's last user message."""
        return last_user_text(self.messages)

    @property
    def system_text(self) -> str:
        """Text of the request's system messages (the agent's system prompt)."""
        return "\n".join(message_text(m) for m in self.messages if m.get("role") == "system")

    def tool_outputs(self) -> list[str]:
        """Texts of all tool messages the model saw, oldest first."""
        return [message_text(m) for m in tool_messages(self.messages)]

    def saw(self, text: str) -> bool:
        """Whether `text` appears in any message of this request."""
        return any(text in message_text(m) for m in self.messages)


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #


class ScriptedLLM:
    """The scripted OpenAI-compatible server; use as a context manager."""

    def __init__(
        self,
        *,
        model: str = "glm-4.7",
        default_reply: str = DEFAULT_REPLY,
        chunk_size: int = 8,
    ) -> None:
        """Create (not start) a server.

        Args:
            model: Model id reported by `/v1/models` and in replies.
            default_reply: Text for prompts no scenario matches.
            chunk_size: Characters per streamed content/arguments chunk.
        """
        self.model = model
        self.default_reply = default_reply
        self.chunk_size = max(1, chunk_size)
        self._scenarios: dict[str, Scenario] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------- #

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (server must be started)."""
        if self._server is None:
            msg = "ScriptedLLM is not started"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. `http://127.0.0.1:12345/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting --------------------------------------------------------- #

    def add_scenario(self, trigger: str, *steps: Step) -> Scenario:
        """Script the replies to conversations whose last user message has `trigger`."""
        if not trigger:
            msg = "trigger must be a non-empty string"
            raise ValueError(msg)
        scenario = Scenario(trigger=trigger, steps=tuple(steps))
        with self._lock:
            self._scenarios[trigger] = scenario
        return scenario

    def find_scenario(self, messages: Sequence[Message]) -> Scenario | None:
        """The scenario whose trigger is the longest one in the last user message."""
        text = last_user_text(messages)
        with self._lock:
            matching = [s for s in self._scenarios.values() if s.trigger in text]
        return max(matching, key=lambda s: len(s.trigger), default=None)

    def decide(self, messages: list[Message]) -> tuple[Scenario | None, int, Reply]:
        """Pick the reply to `messages`: `(scenario, step index, reply)`."""
        scenario = self.find_scenario(messages)
        index = step_index(messages)
        if scenario is None:
            return None, index, Reply(text=self.default_reply)
        if index >= len(scenario.steps):
            return scenario, index, Reply(text=END_OF_SCRIPT_REPLY)
        step = scenario.steps[index]
        if isinstance(step, TextStep):
            text = step.text(messages) if callable(step.text) else step.text
            return scenario, index, Reply(text=text)
        tool_calls = tuple((f"call_{uuid.uuid4().hex[:24]}", c.name, dict(c.args)) for c in step.calls)
        return scenario, index, Reply(text=step.text, tool_calls=tool_calls)

    # -- recordings -------------------------------------------------------- #

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every chat request received so far."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, trigger: str) -> list[RecordedRequest]:
        """Requests whose last user message contains `trigger`."""
        return [r for r in self.requests if trigger in r.last_user_text]

    def clear(self) -> None:
        """Forget recorded requests (scenarios are kept)."""
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # -- wire format ------------------------------------------------------- #

    def completion_body(self, reply: Reply, prompt: list[Message]) -> dict[str, Any]:
        """A non-streaming `chat.completion` object for `reply`."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)},
                }
                for call_id, name, args in reply.tool_calls
            ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(reply, prompt),
        }

    def stream_chunks(self, reply: Reply, prompt: list[Message], *, include_usage: bool) -> Iterator[dict[str, Any]]:
        """The `chat.completion.chunk` objects that stream `reply`."""
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
            }

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(reply.text, self.chunk_size):
            yield chunk({"content": piece})
        for index, (call_id, name, args) in enumerate(reply.tool_calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            arguments = json.dumps(args, ensure_ascii=False)
            for piece in _pieces(arguments, self.chunk_size):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, reply.finish_reason)
        if include_usage:
            yield {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [],
                "usage": _usage(reply, prompt),
            }

    def models_body(self) -> dict[str, Any]:
        """The `GET /v1/models` listing."""
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "scripted"}],
        }


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _usage(reply: Reply, prompt: list[Message]) -> dict[str, int]:
    """Rough token counts (4 characters a token); enough for usage metadata."""
    prompt_tokens = max(1, len(json.dumps(prompt, ensure_ascii=False)) // 4)
    completion_chars = len(reply.text) + sum(len(name) + len(json.dumps(args, ensure_ascii=False)) for _, name, args in reply.tool_calls)
    completion_tokens = max(1, completion_chars // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
MODELS_PATHS = frozenset({"/v1/models", "/models"})


def _make_handler(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ScriptedLLM/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def _path(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/") or "/"

        def _send_json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send_json(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self._path() in MODELS_PATHS:
                self._send_json(HTTPStatus.OK, llm.models_body())
            elif self._path() in {"/", "/health"}:
                self._send_json(HTTPStatus.OK, {"ok": True})
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}")

        def do_POST(self) -> None:
            path = self._path()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path not in CHAT_PATHS:
                self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}")
                return
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                    msg = "body must be a JSON object with a `messages` list"
                    raise ValueError(msg)
            except ValueError as error:
                llm._record(RecordedRequest(path, {"raw": raw.decode(errors="replace")}, None, 0, None))
                self._error(HTTPStatus.BAD_REQUEST, str(error))
                return

            messages: list[Message] = body["messages"]
            scenario, index, reply = llm.decide(messages)
            llm._record(RecordedRequest(path, body, scenario.trigger if scenario else None, index, reply))
            if not body.get("stream"):
                self._send_json(HTTPStatus.OK, llm.completion_body(reply, messages))
                return

            options = body.get("stream_options") or {}
            include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for chunk in llm.stream_chunks(reply, messages, include_usage=include_usage):
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler
