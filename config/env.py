"""Reading settings from the environment: the parsers, the project root, and `setting()`.

A setting is one dataclass field declared with `setting("VAR", parser, default)`
and a docstring under it. `read_settings(cls)` fills every such field from the
environment, so adding a setting never means touching a second function, and
`env_vars(cls)` lists the variables (tests check them against `.env.example`);
`python -m config.docs` writes docs/settings.md from the same fields and docstrings.

`.env` is read here and nowhere else: `read_settings` loads it (variables already
set win) before every read, so whichever of the graph, the auth module or the
HTTP app reads settings first, each sees the same values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, field, fields
from functools import partial
from pathlib import Path
from typing import Any, cast

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The checkout that holds `langgraph.json`; default home of `workspaces/`, `shared/` and `.env`."""

type Parser[T] = Callable[[str, T], T]
"""`parser(variable_name, default) -> value`; raises `SettingsError` naming the variable."""


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use; the message names it."""


def env_raw(name: str) -> str:
    """The variable's value with surrounding whitespace removed ("" when unset)."""
    return os.environ.get(name, "").strip()


def env_str(name: str, default: str) -> str:
    """Any non-empty text; unset or blank means `default`."""
    return env_raw(name) or default


def env_optional_str(name: str, default: str | None) -> str | None:
    """Text, or `default` (usually None) when unset or blank."""
    return env_raw(name) or default


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number of at least `minimum`."""
    raw = env_raw(name)
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


def at_least(minimum: int) -> Parser[int]:
    """An `env_int` parser with a lower bound."""
    return partial(env_int, minimum=minimum)


def env_float(name: str, default: float) -> float:
    """A positive number."""
    raw = env_raw(name)
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


_TRUE = frozenset({"1", "true", "yes", "on", "enabled"})
_FALSE = frozenset({"0", "false", "no", "off", "disabled"})


def env_bool(name: str, default: bool) -> bool:  # noqa: FBT001 - the Parser signature
    """true/false (also 1/0, yes/no, on/off, enabled/disabled)."""
    raw = env_raw(name).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    msg = f"{name}={raw!r} is not a boolean (use true or false)"
    raise SettingsError(msg)


def env_path(name: str, default: Path) -> Path:
    """A directory or file; relative values (and the default) are taken from the project root."""
    raw = env_raw(name)
    path = Path(raw).expanduser() if raw else default
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def env_choice(*choices: str) -> Parser[str]:
    """One of `choices` (case-insensitive)."""

    def parse(name: str, default: str) -> str:
        raw = env_raw(name).lower() or default
        if raw not in choices:
            options = " or ".join(repr(c) for c in choices)
            msg = f"{name}={raw!r} must be {options}"
            raise SettingsError(msg)
        return raw

    return parse


def setting[T](
    env: str,
    parse: Parser[T],
    default: T | None = None,
    *,
    default_factory: Callable[[], T] | None = None,
    shown: str | None = None,
) -> T:
    """Declare a dataclass field read from environment variable `env` by `parse`.

    Give `default` or `default_factory` (evaluated per instance, e.g. for paths).
    `shown` is the default as an operator would write it (`1g`, `auto`) when the
    value itself reads badly in docs/settings.md; a unit test checks that `parse`
    turns it back into the default.
    """
    metadata: dict[str, object] = {"env": env, "parse": parse}
    if shown is not None:
        metadata["shown"] = shown
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return cast("T", field(default=default, metadata=metadata))


def _env_fields(cls: type) -> list[Field[Any]]:
    return [f for f in fields(cls) if "env" in f.metadata]


def env_vars(cls: type) -> list[str]:
    """The environment variables a settings class reads, in declaration order, without repeats."""
    return list(dict.fromkeys(f.metadata["env"] for f in _env_fields(cls)))


def read_settings[S](cls: type[S], overrides: Mapping[str, Any] | None = None) -> S:
    """Build `cls` from the environment; raise `SettingsError` naming the first bad variable."""
    _load_project_dotenv()
    values: dict[str, Any] = {}
    for f in _env_fields(cls):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        values[f.name] = f.metadata["parse"](f.metadata["env"], default)
    return cls(**(values | dict(overrides or {})))


def _load_project_dotenv() -> None:
    """Read `.env` from the project root into the environment; variables already set win."""
    load_dotenv(PROJECT_ROOT / ".env")
