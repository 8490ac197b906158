"""Settings: parsing, errors that name the variable, and no drift from `.env.example` or the README."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import pytest

import config
from config.env import PROJECT_ROOT, SettingsError, env_vars
from config.model import DEFAULT_API_BASE, ModelSettings
from config.sandbox import UNPRIVILEGED_UID, SandboxSettings


def _settings_classes() -> list[type]:
    """Every dataclass in the `config` package that reads an environment variable."""
    found: list[type] = []
    for info in pkgutil.iter_modules(config.__path__):
        module = importlib.import_module(f"config.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and dataclasses.is_dataclass(obj) and env_vars(obj):
                found.append(obj)
    return found


ALL_VARS = sorted({var for cls in _settings_classes() for var in env_vars(cls)})


def test_the_settings_classes_are_found() -> None:
    assert {SandboxSettings, ModelSettings} <= set(_settings_classes())
    assert "SANDBOX_MEMORY" in ALL_VARS
    assert "ZHIPUAI_API_KEY" in ALL_VARS


def _env_example_vars() -> set[str]:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _readme_table_vars() -> set[str]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


@pytest.mark.parametrize("var", ALL_VARS)
def test_every_setting_is_in_env_example(var: str) -> None:
    assert var in _env_example_vars(), f"{var} is a setting but .env.example does not list it"


@pytest.mark.parametrize("var", ALL_VARS)
def test_every_setting_is_in_the_readme_table(var: str) -> None:
    assert var in _readme_table_vars(), f"{var} is a setting but the README's configuration table does not list it"


def test_env_example_and_readme_list_no_unknown_settings() -> None:
    ours = re.compile(r"^(SANDBOX|AUTH|LLM|ZHIPUAI)_")
    listed = {v for v in _env_example_vars() | _readme_table_vars() if ours.match(v)}
    assert listed <= set(ALL_VARS), f"documented but not a setting: {sorted(listed - set(ALL_VARS))}"


def test_every_setting_field_has_a_docstring() -> None:
    for cls in _settings_classes():
        source = inspect.getsource(cls)
        for field in dataclasses.fields(cls):
            if "env" in field.metadata:
                pattern = rf"\n    {field.name}: [^\n]*\n    \"\"\""
                assert re.search(pattern, source), f"{cls.__name__}.{field.name} needs a docstring under it"


# --- parsing -------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = SandboxSettings.from_env()
    assert (s.image, s.mode, s.network, s.memory_bytes, s.cpus, s.pids_limit) == ("python:3.13-slim", "ephemeral", False, 1024**3, 1.0, 256)
    assert (s.timeout_seconds, s.max_timeout_seconds, s.max_output_bytes, s.idle_ttl_seconds, s.max_containers) == (
        120,
        1800,
        4 << 20,
        900,
        32,
    )
    assert s.workspaces_dir == (PROJECT_ROOT / "workspaces").resolve()
    assert s.shared_dir == (PROJECT_ROOT / "shared").resolve()
    assert s == SandboxSettings().with_overrides(workspaces_dir=s.workspaces_dir, shared_dir=s.shared_dir)
    m = ModelSettings.from_env()
    assert m == ModelSettings(api_key=None, api_base=DEFAULT_API_BASE, model="glm-4.7", thinking=True, timeout_seconds=600.0)


def test_values_are_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var, value in {
        "SANDBOX_IMAGE": " img:1 ",
        "SANDBOX_MODE": "Session",
        "SANDBOX_WORKSPACES_DIR": str(tmp_path / "ws"),
        "SANDBOX_SHARED_DIR": "rel/shared",
        "SANDBOX_NETWORK": "yes",
        "SANDBOX_MEMORY": "512m",
        "SANDBOX_CPUS": "0.5",
        "SANDBOX_PIDS_LIMIT": "64",
        "SANDBOX_USER": "1234:2345",
        "SANDBOX_TIMEOUT": "5",
        "SANDBOX_MAX_TIMEOUT": "50",
        "SANDBOX_MAX_OUTPUT_BYTES": "2048",
        "SANDBOX_IDLE_TTL": "7",
        "SANDBOX_MAX_CONTAINERS": "3",
        "ZHIPUAI_API_KEY": " k ",
        "ZHIPUAI_API_BASE": "http://vllm:8000/v1",
        "LLM_MODEL": "qwen",
        "LLM_THINKING": "off",
        "LLM_TIMEOUT": "12.5",
    }.items():
        clean_env.setenv(var, value)
    assert SandboxSettings.from_env() == SandboxSettings(
        image="img:1",
        mode="session",
        workspaces_dir=tmp_path / "ws",
        shared_dir=(PROJECT_ROOT / "rel/shared").resolve(),
        network=True,
        memory_bytes=512 << 20,
        cpus=0.5,
        pids_limit=64,
        uid=1234,
        gid=2345,
        timeout_seconds=5,
        max_timeout_seconds=50,
        max_output_bytes=2048,
        idle_ttl_seconds=7,
        max_containers=3,
    )
    assert ModelSettings.from_env() == ModelSettings(
        api_key="k", api_base="http://vllm:8000/v1", model="qwen", thinking=False, timeout_seconds=12.5
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1g", 1 << 30), ("512m", 512 << 20), ("1.5g", 3 << 29), ("7340032", 7 << 20), ("8192k", 8 << 20), ("100mb", None)],
)
def test_memory_forms(clean_env: pytest.MonkeyPatch, raw: str, expected: int | None) -> None:
    clean_env.setenv("SANDBOX_MEMORY", raw)
    if expected is None:
        with pytest.raises(SettingsError, match="SANDBOX_MEMORY"):
            SandboxSettings.from_env()
    else:
        assert SandboxSettings.from_env().memory_bytes == expected


def test_user_auto_and_uid_only(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SANDBOX_USER", "4321")
    s = SandboxSettings.from_env()
    assert (s.uid, s.gid) == (4321, 4321)
    clean_env.setenv("SANDBOX_USER", "auto")
    s = SandboxSettings.from_env()
    expected = (UNPRIVILEGED_UID, UNPRIVILEGED_UID) if os.getuid() == 0 else (os.getuid(), os.getgid())
    assert (s.uid, s.gid) == expected


@pytest.mark.parametrize(
    ("var", "raw", "words"),
    [
        ("SANDBOX_MODE", "warm", "must be 'ephemeral' or 'session'"),
        ("SANDBOX_NETWORK", "maybe", "is not a boolean"),
        ("SANDBOX_MEMORY", "lots", "is not a size"),
        ("SANDBOX_MEMORY", "1m", "below Docker's 6 MiB minimum"),
        ("SANDBOX_CPUS", "one", "is not a number"),
        ("SANDBOX_CPUS", "0", "must be positive"),
        ("SANDBOX_CPUS", "-2", "must be positive"),
        ("SANDBOX_PIDS_LIMIT", "4", "must be at least 8"),
        ("SANDBOX_PIDS_LIMIT", "many", "is not a whole number"),
        ("SANDBOX_USER", "0", "never run as root"),
        ("SANDBOX_USER", "0:0", "never run as root"),
        ("SANDBOX_USER", "nobody", "must be 'auto' or numeric"),
        ("SANDBOX_TIMEOUT", "0", "must be at least 1"),
        ("SANDBOX_TIMEOUT", "1.5", "is not a whole number"),
        ("SANDBOX_MAX_OUTPUT_BYTES", "100", "must be at least 1024"),
        ("SANDBOX_MAX_CONTAINERS", "0", "must be at least 1"),
        ("LLM_THINKING", "perhaps", "is not a boolean"),
        ("LLM_TIMEOUT", "soon", "is not a number"),
    ],
)
def test_bad_values_name_the_variable(clean_env: pytest.MonkeyPatch, var: str, raw: str, words: str) -> None:
    clean_env.setenv(var, raw)
    cls = ModelSettings if var.startswith("LLM_") else SandboxSettings
    with pytest.raises(SettingsError, match=re.escape(var)) as info:
        cls.from_env()
    assert words in str(info.value)


@pytest.mark.parametrize("raw", ["1", "true", "YES", "on", "enabled", "0", "false", "No", "off", "disabled"])
def test_boolean_spellings(clean_env: pytest.MonkeyPatch, raw: str) -> None:
    clean_env.setenv("SANDBOX_NETWORK", raw)
    assert SandboxSettings.from_env().network is (raw.lower() in {"1", "true", "yes", "on", "enabled"})


def test_blank_values_mean_the_default(clean_env: pytest.MonkeyPatch) -> None:
    for var in ALL_VARS:
        clean_env.setenv(var, "   ")
    assert SandboxSettings.from_env().timeout_seconds == 120
    assert ModelSettings.from_env().api_key is None
