"""Settings of the HTTP layer that `server/` adds in front of the LangGraph API."""

from __future__ import annotations

from dataclasses import dataclass

from config.env import env_float, read_settings, setting


@dataclass(frozen=True)
class ServerSettings:
    """How our middleware treats requests the LangGraph server alone would get wrong; build with `from_env()`."""

    stream_thread_wait: float = setting("STREAM_THREAD_WAIT", env_float, 30.0)
    """Seconds a v2 thread stream opened before its thread exists waits for it.

    The SDK's `threads.stream()` makes up the thread id and may subscribe before
    `run.start` creates the thread; the subscription is answered at once and its
    events start when the thread appears. Past this wait it ends with a "not found" error frame.
    """

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Read the settings (and the project's `.env`, `config.env`); raise `SettingsError` naming a bad variable."""
        return read_settings(cls)
