"""Model settings become the right `ChatOpenAI` client; a missing key fails runs, not the server."""

from __future__ import annotations

import pytest

from agent.model import MissingApiKeyError, RequireApiKeyMiddleware, build_chat_model
from config.model import DEFAULT_API_BASE, ModelSettings

SETTINGS = ModelSettings(api_key="k-123", api_base="http://vllm.internal:8000/v1", model="qwen3", thinking=True, timeout_seconds=42.0)


def test_chat_model_uses_the_settings() -> None:
    chat = build_chat_model(SETTINGS)
    assert chat.model_name == "qwen3"
    assert chat.openai_api_base == "http://vllm.internal:8000/v1"
    assert chat.openai_api_key is not None
    assert chat.openai_api_key.get_secret_value() == "k-123"
    assert chat.request_timeout == 42.0
    assert chat.temperature == 0
    assert chat.extra_body == {"response_format": {"type": "text"}, "thinking": {"type": "enabled"}}


def test_thinking_off_sends_no_thinking_flag() -> None:
    chat = build_chat_model(ModelSettings(api_key="k", api_base=DEFAULT_API_BASE, model="glm-4.7", thinking=False, timeout_seconds=1.0))
    assert chat.extra_body == {"response_format": {"type": "text"}}


def test_a_missing_key_still_builds_a_client() -> None:
    chat = build_chat_model(ModelSettings())
    assert chat.openai_api_key is not None
    assert chat.openai_api_key.get_secret_value() == "missing-ZHIPUAI_API_KEY"


async def test_without_a_key_each_run_fails_naming_the_variable() -> None:
    middleware = RequireApiKeyMiddleware(ModelSettings())
    with pytest.raises(MissingApiKeyError, match="ZHIPUAI_API_KEY is not set"):
        middleware.before_model({}, None)  # type: ignore[arg-type]
    with pytest.raises(MissingApiKeyError, match=r"\.env \(see \.env\.example\)"):
        await middleware.abefore_model({}, None)  # type: ignore[arg-type]


async def test_with_a_key_the_model_is_called() -> None:
    middleware = RequireApiKeyMiddleware(SETTINGS)
    assert middleware.before_model({}, None) is None  # type: ignore[arg-type]
    assert await middleware.abefore_model({}, None) is None  # type: ignore[arg-type]
