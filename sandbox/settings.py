"""Sandbox configuration, read once from `SANDBOX_*` environment variables.

Every hardening knob has exactly one setting with a safe default, so an operator
can see the whole security posture in `.env.example` and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout that holds `langgraph.json`; default home of `workspaces/` and `shared/`."""

UNPRIVILEGED_UID = 65534
"""uid/gid (`nobody`) used inside sandboxes when the server itself runs as root."""

SandboxMode = Literal["ephemeral", "session"]


class SettingsError(ValueError):
    """A `SANDBOX_*` variable holds a value we cannot use; the message names it."""


def _env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not a whole number"
        raise SettingsError(msg) from None
    if value < minimum:
        msg = f"{name}={value} must be at least {minimum}"
        raise SettingsError(msg)
    return value


def env_float(name: str, default: float) -> float:
    """A positive number from the environment; a bad value raises `SettingsError` naming `name`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not a number"
        raise SettingsError(msg) from None
    if value <= 0:
        msg = f"{name}={value} must be positive"
        raise SettingsError(msg)
    return value


def env_bool(name: str, default: bool) -> bool:  # noqa: FBT001
    """true/false (also 1/0, yes/no, on/off); a bad value raises `SettingsError` naming `name`."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on", "enabled"}:
        return True
    if raw in {"0", "false", "no", "off", "disabled"}:
        return False
    msg = f"{name}={raw!r} is not a boolean (use true or false)"
    raise SettingsError(msg)


def _env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name, "").strip()
    path = Path(raw).expanduser() if raw else default
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def _parse_memory(name: str, default: int) -> int:
    """Accept `1g`, `512m`, `1073741824`: the forms `docker run --memory` takes."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = (raw[:-1], raw[-1]) if raw[-1] in units else (raw.rstrip("b"), "")
    try:
        value = int(float(number) * units.get(unit, 1))
    except ValueError:
        msg = f"{name}={raw!r} is not a size such as 512m or 1g"
        raise SettingsError(msg) from None
    if value < 6 * 1024**2:
        msg = f"{name}={raw!r} is below Docker's 6 MiB minimum"
        raise SettingsError(msg)
    return value


def _default_user() -> tuple[int, int]:
    """The host user's ids keep workspace files editable; root gets `nobody` instead."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        return UNPRIVILEGED_UID, UNPRIVILEGED_UID
    return uid, gid


def _env_user(name: str) -> tuple[int, int]:
    raw = os.environ.get(name, "").strip()
    if not raw or raw == "auto":
        return _default_user()
    uid_text, _, gid_text = raw.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else uid
    except ValueError:
        msg = f"{name}={raw!r} must be 'auto' or numeric 'uid[:gid]'"
        raise SettingsError(msg) from None
    if uid == 0:
        msg = f"{name}={raw!r}: sandboxes never run as root"
        raise SettingsError(msg)
    return uid, gid


def _env_mode(name: str) -> SandboxMode:
    raw = os.environ.get(name, "").strip().lower() or "ephemeral"
    if raw not in ("ephemeral", "session"):
        msg = f"{name}={raw!r} must be 'ephemeral' or 'session'"
        raise SettingsError(msg)
    return raw  # type: ignore[return-value]


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox needs to know; build with `SandboxSettings.from_env()`."""

    image: str = "python:3.13-slim"
    mode: SandboxMode = "ephemeral"
    workspaces_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "workspaces")
    shared_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "shared")
    network: bool = False
    memory_bytes: int = 1024**3
    cpus: float = 1.0
    pids_limit: int = 256
    uid: int = field(default_factory=lambda: _default_user()[0])
    gid: int = field(default_factory=lambda: _default_user()[1])
    timeout_seconds: int = 120
    max_timeout_seconds: int = 1800
    max_output_bytes: int = 4 * 1024**2
    idle_ttl_seconds: int = 900
    max_containers: int = 32

    @classmethod
    def from_env(cls) -> SandboxSettings:
        """Read `SANDBOX_*`; raise `SettingsError` naming the first bad variable."""
        uid, gid = _env_user("SANDBOX_USER")
        return cls(
            image=os.environ.get("SANDBOX_IMAGE", "").strip() or cls.image,
            mode=_env_mode("SANDBOX_MODE"),
            workspaces_dir=_env_path("SANDBOX_WORKSPACES_DIR", PROJECT_ROOT / "workspaces"),
            shared_dir=_env_path("SANDBOX_SHARED_DIR", PROJECT_ROOT / "shared"),
            network=env_bool("SANDBOX_NETWORK", default=False),
            memory_bytes=_parse_memory("SANDBOX_MEMORY", cls.memory_bytes),
            cpus=env_float("SANDBOX_CPUS", cls.cpus),
            pids_limit=_env_int("SANDBOX_PIDS_LIMIT", cls.pids_limit, minimum=8),
            uid=uid,
            gid=gid,
            timeout_seconds=_env_int("SANDBOX_TIMEOUT", cls.timeout_seconds, minimum=1),
            max_timeout_seconds=_env_int("SANDBOX_MAX_TIMEOUT", cls.max_timeout_seconds, minimum=1),
            max_output_bytes=_env_int("SANDBOX_MAX_OUTPUT_BYTES", cls.max_output_bytes, minimum=1024),
            idle_ttl_seconds=_env_int("SANDBOX_IDLE_TTL", cls.idle_ttl_seconds, minimum=1),
            max_containers=_env_int("SANDBOX_MAX_CONTAINERS", cls.max_containers, minimum=1),
        )

    def with_overrides(self, **changes: object) -> SandboxSettings:
        """Copy with some fields changed (tests and benchmarks use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]
