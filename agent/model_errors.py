"""Model endpoint failures re-raised as errors that say what went wrong.

`langgraph dev` (and Aegra) replace the message of any exception type they do
not know with "An internal error occurred", but pass `RuntimeError`'s through.
The openai client's errors are not among the known ones, so a model endpoint
that refused a request, timed out or could not be reached reached the user as
an internal error, in the stream and in the thread's saved state. This
middleware, on the main agent and on its subagent, re-raises them as
`ModelEndpointError` with a message that names the kind of failure and its
cause, never the endpoint's address or key.

The servers pass on an error as its type's name and its message, nothing else.
So the kind of failure is the type (`ModelTimeoutError`, `ModelUnreachableError`,
`ModelRefusedError`): a code the web client words in the reader's language,
reading the values (seconds, HTTP status, cause) from the fixed English sentences
below (`ui/src/errorText.js`); other clients show the English message as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, override

import openai
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse

_MAX_DETAIL = 300


class ModelEndpointError(RuntimeError):
    """The model endpoint refused, timed out or was unreachable (the type and the message say which)."""


class ModelTimeoutError(ModelEndpointError):
    """No answer within `LLM_TIMEOUT` seconds."""


class ModelUnreachableError(ModelEndpointError):
    """No connection to the endpoint (or it dropped the connection)."""


class ModelRefusedError(ModelEndpointError):
    """The endpoint answered with an HTTP error status."""


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def model_failure(exc: BaseException, timeout_seconds: float) -> ModelEndpointError | None:
    """The error to raise for an openai client error, or None for any other exception."""
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"The model endpoint did not answer within {timeout_seconds:g} s (LLM_TIMEOUT).")
    if isinstance(exc, openai.APIConnectionError):
        cause = _root_cause(exc)
        detail = str(cause) if cause is not exc and str(cause) else type(cause).__name__
        return ModelUnreachableError(f"The model endpoint could not be reached: {_short(detail)}")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        said = body.get("message") if isinstance(body, dict) else None
        detail = f": {_short(str(said))}" if said else ""
        return ModelRefusedError(f"The model endpoint refused the request with HTTP {exc.status_code}{detail}")
    return None


def describe_model_failure(exc: BaseException, timeout_seconds: float) -> str | None:
    """A user-facing sentence for an openai client error, or None for any other exception."""
    failure = model_failure(exc, timeout_seconds)
    return None if failure is None else str(failure)


class ModelErrorMiddleware(AgentMiddleware):
    """Turns the openai client's errors into `ModelEndpointError` (see the module docstring)."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self._timeout = timeout_seconds

    def _translate(self, exc: Exception) -> ModelEndpointError | None:
        return model_failure(exc, self._timeout)

    @override
    def wrap_model_call(self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]) -> Any:
        try:
            return handler(request)
        except openai.APIError as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc

    @override
    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> Any:
        try:
            return await handler(request)
        except openai.APIError as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc
