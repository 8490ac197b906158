"""A model endpoint's failures, produced by the real openai client against local sockets, get specific messages."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from agent.model_errors import (
    ModelEndpointError,
    ModelRefusedError,
    ModelTimeoutError,
    ModelUnreachableError,
    describe_model_failure,
    model_failure,
)


class _Endpoint(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/slow"):
            time.sleep(2)
        body = json.dumps({"error": {"message": "Invalid API key", "type": "invalid_request_error"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _failure(base_url: str, timeout: float = 10.0) -> openai.APIError:
    client = openai.OpenAI(api_key="k", base_url=base_url, max_retries=0, timeout=timeout)
    with pytest.raises(openai.APIError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    return caught.value


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_request_names_the_status_and_the_endpoints_words(endpoint: str) -> None:
    message = describe_model_failure(_failure(f"{endpoint}/v1"), 600)
    assert message == "The model endpoint refused the request with HTTP 401: Invalid API key"


def test_a_timeout_names_the_setting(endpoint: str) -> None:
    message = describe_model_failure(_failure(f"{endpoint}/slow/v1", timeout=0.3), 0.3)
    assert message == "The model endpoint did not answer within 0.3 s (LLM_TIMEOUT)."


def test_an_unreachable_endpoint_says_why_without_its_address() -> None:
    port = _closed_port()
    message = describe_model_failure(_failure(f"http://127.0.0.1:{port}/v1"), 600)
    assert message is not None
    assert message.startswith("The model endpoint could not be reached: ")
    assert "refused" in message.lower() or "connect" in message.lower()
    assert str(port) not in message


def test_other_errors_are_left_alone_and_the_new_one_passes_the_servers_filter() -> None:
    assert describe_model_failure(ValueError("x"), 1) is None
    # langgraph-api shows the message of RuntimeError's subclasses and hides everything else's.
    assert issubclass(ModelEndpointError, RuntimeError)


def test_the_kind_of_failure_is_the_error_type(endpoint: str) -> None:
    """The servers pass on only the type's name and the message: the type is the code clients localize."""
    refused = model_failure(_failure(f"{endpoint}/v1"), 600)
    timed_out = model_failure(_failure(f"{endpoint}/slow/v1", timeout=0.3), 0.3)
    unreachable = model_failure(_failure(f"http://127.0.0.1:{_closed_port()}/v1"), 600)
    assert type(refused) is ModelRefusedError
    assert type(timed_out) is ModelTimeoutError
    assert type(unreachable) is ModelUnreachableError
    assert model_failure(ValueError("x"), 1) is None
