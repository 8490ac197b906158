"""The chat model: any OpenAI-compatible endpoint, GLM-4.7 on Zhipu by default.

The seed's variables work as written (`ZHIPUAI_API_KEY`, `ZHIPUAI_API_BASE`); the
model name and GLM's thinking switch are overridable so the same graph runs
against vLLM or Ollama on an intranet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime

from sandbox.settings import env_bool, env_float

DEFAULT_API_BASE = "https://open.bigmodel.cn/api/paas/v4/"
DEFAULT_MODEL = "glm-4.7"
API_KEY_VARIABLE = "ZHIPUAI_API_KEY"
_PLACEHOLDER_KEY = "missing-" + API_KEY_VARIABLE


class MissingApiKeyError(RuntimeError):
    """Raised at run time, not import time, so the server starts without a key."""


@dataclass(frozen=True)
class ModelSettings:
    """Model configuration read from the environment."""

    api_key: str | None
    api_base: str
    model: str
    thinking: bool
    timeout_seconds: float

    @classmethod
    def from_env(cls) -> ModelSettings:
        """Read `ZHIPUAI_*` and `LLM_*` variables."""
        return cls(
            api_key=os.environ.get(API_KEY_VARIABLE, "").strip() or None,
            api_base=os.environ.get("ZHIPUAI_API_BASE", "").strip() or DEFAULT_API_BASE,
            model=os.environ.get("LLM_MODEL", "").strip() or DEFAULT_MODEL,
            thinking=env_bool("LLM_THINKING", default=True),
            timeout_seconds=env_float("LLM_TIMEOUT", 600.0),
        )


def build_chat_model(settings: ModelSettings) -> ChatOpenAI:
    """A `ChatOpenAI` client for the configured endpoint (temperature 0, as the seed asks)."""
    extra_body: dict[str, Any] = {"response_format": {"type": "text"}}
    if settings.thinking:
        extra_body["thinking"] = {"type": "enabled"}
    return ChatOpenAI(
        model=settings.model,
        temperature=0,
        api_key=settings.api_key or _PLACEHOLDER_KEY,
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

    def before_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:  # noqa: ARG002, D102
        self._check()
        return None

    async def abefore_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:  # noqa: ARG002, D102
        self._check()
        return None
