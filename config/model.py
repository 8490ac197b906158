"""Model settings: any OpenAI-compatible endpoint, GLM-4.7 on Zhipu by default.

Zhipu's own variable names (`ZHIPUAI_API_KEY`, `ZHIPUAI_API_BASE`) are kept, so an existing
Zhipu `.env` works unchanged; the model name and GLM's thinking switch are overridable so the same graph runs
against vLLM or Ollama on an intranet.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.env import env_bool, env_float, env_optional_str, env_str, read_settings, setting

API_KEY_VARIABLE = "ZHIPUAI_API_KEY"
DEFAULT_API_BASE = "https://open.bigmodel.cn/api/paas/v4/"
DEFAULT_MODEL = "glm-4.7"


@dataclass(frozen=True)
class ModelSettings:
    """Model configuration; build with `ModelSettings.from_env()`."""

    api_key: str | None = setting(API_KEY_VARIABLE, env_optional_str, None)
    """API key of the endpoint. Unset: the server starts, but each run fails naming this variable.
    Any non-empty value for a keyless vLLM or Ollama."""
    api_base: str = setting("ZHIPUAI_API_BASE", env_str, DEFAULT_API_BASE)
    """OpenAI-compatible base URL (Zhipu by default; vLLM or Ollama on an intranet, e.g.
    `http://vllm.internal:8000/v1`, `http://ollama.internal:11434/v1`)."""
    model: str = setting("LLM_MODEL", env_str, DEFAULT_MODEL)
    """Model name at that endpoint."""
    thinking: bool = setting("LLM_THINKING", env_bool, True)  # noqa: FBT003
    """Send GLM's `thinking: {type: enabled}`; false for endpoints that reject it."""
    timeout_seconds: float = setting("LLM_TIMEOUT", env_float, 600.0)
    """Seconds per model request."""

    @classmethod
    def from_env(cls) -> ModelSettings:
        """Read `ZHIPUAI_*` and `LLM_*`; raise `SettingsError` naming the first bad variable."""
        return read_settings(cls)
