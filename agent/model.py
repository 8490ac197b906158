"""The chat model built from `config.model.ModelSettings`, and the run-time API key check."""

from __future__ import annotations

from typing import Any, override

from langchain.agents.middleware import AgentMiddleware
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime
from pydantic import SecretStr

from config.model import API_KEY_VARIABLE, ModelSettings

_PLACEHOLDER_KEY = "missing-" + API_KEY_VARIABLE


class MissingApiKeyError(RuntimeError):
    """Raised at run time, not import time, so the server starts without a key."""


def build_chat_model(settings: ModelSettings) -> ChatOpenAI:
    """A `ChatOpenAI` client for the configured endpoint (temperature 0, so the same prompt gives the same tool calls)."""
    extra_body: dict[str, Any] = {"response_format": {"type": "text"}}
    if settings.thinking:
        extra_body["thinking"] = {"type": "enabled"}
    return ChatOpenAI(
        model=settings.model,
        temperature=0,
        api_key=SecretStr(settings.api_key or _PLACEHOLDER_KEY),
        base_url=settings.api_base,
        extra_body=extra_body,
        timeout=settings.timeout_seconds,
        max_retries=2,
    )


class RequireApiKeyMiddleware(AgentMiddleware):
    """Fails a run before the first model call when no API key is configured."""

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        self._missing = settings.api_key is None

    def _check(self) -> None:
        if self._missing:
            msg = (
                f"{API_KEY_VARIABLE} is not set. Put it in .env (see .env.example) and restart the server; "
                "for a local vLLM or Ollama endpoint any non-empty value works."
            )
            raise MissingApiKeyError(msg)

    @override
    def before_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        self._check()
        return None

    @override
    async def abefore_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        self._check()
        return None
