"""Settings of the tool-call permission policy (`agent/policy/`, docs/permissions.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.env import PROJECT_ROOT, env_raw, read_settings, setting


def env_optional_path(name: str, default: Path | None) -> Path | None:
    """A file path, or `default` (None) when unset; relative values are taken from the project root."""
    raw = env_raw(name)
    if not raw:
        return default
    path = Path(raw).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


@dataclass(frozen=True)
class PolicySettings:
    """Where the administrator's permission rules live; build with `from_env()`."""

    policy_file: Path | None = setting("POLICY_FILE", env_optional_path, None)
    """A JSON (`.json`) or TOML (`.toml`) file of the administrator's permission rules (`{"rules": [...]}`,
    see docs/permissions.md). They bound every assistant and user: rules set elsewhere can only make a
    tool call stricter (allow < ask < deny). Read once at startup; a missing or malformed file stops the
    server with a message naming it. Unset: no administrator rules, only the assistants' own."""

    @classmethod
    def from_env(cls) -> PolicySettings:
        """Read `POLICY_FILE` (and the project's `.env`, `config.env`); raise `SettingsError` naming a bad variable."""
        return read_settings(cls)
