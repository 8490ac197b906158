"""Settings: parsing, errors that name the variable, and no drift from `.env.example` or docs/settings.md."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from config import docs as config_docs
from config.docs import settings_classes
from config.env import PROJECT_ROOT, SettingsError, env_vars
from config.model import DEFAULT_API_BASE, ModelSettings
from config.sandbox import UNPRIVILEGED_UID, SandboxSettings

ALL_VARS = sorted({var for cls in settings_classes() for var in env_vars(cls)})


def test_the_settings_classes_are_found() -> None:
    assert {SandboxSettings, ModelSettings} <= set(settings_classes())
    assert "SANDBOX_MEMORY" in ALL_VARS
    assert "ZHIPUAI_API_KEY" in ALL_VARS


def _env_example_vars() -> set[str]:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _settings_doc_vars() -> set[str]:
    text = (PROJECT_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", text, flags=re.MULTILINE))


@pytest.mark.parametrize("var", ALL_VARS)
def test_every_setting_is_in_env_example(var: str) -> None:
    assert var in _env_example_vars(), f"{var} is a setting but .env.example does not list it"


@pytest.mark.parametrize("var", ALL_VARS)
def test_every_setting_is_in_the_settings_doc(var: str) -> None:
    assert var in _settings_doc_vars(), f"{var} is a setting but docs/settings.md does not list it"


def test_the_settings_doc_is_what_the_generator_writes() -> None:
    """docs/settings.md is generated from the settings classes; edit them and run `uv run python -m config.docs`."""
    assert (PROJECT_ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == config_docs.render(), (
        "docs/settings.md is stale: run `uv run python -m config.docs`"
    )
    assert config_docs.main(["--check"]) == 0


def test_the_generator_notices_a_stale_doc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "settings.md"
    stale.write_text(config_docs.render().replace("SANDBOX_MEMORIES_QUOTA", "SANDBOX_MEMORIES_QUOTA_OLD"), encoding="utf-8")
    monkeypatch.setattr(config_docs, "OUTPUT", stale)
    assert config_docs.main(["--check"]) == 1
    assert config_docs.main([]) == 0
    assert stale.read_text(encoding="utf-8") == config_docs.render()


def _fields_with_env() -> list[tuple[type, dataclasses.Field[object]]]:
    return [(cls, f) for cls in settings_classes() for f in dataclasses.fields(cls) if "env" in f.metadata]


@pytest.mark.parametrize(("cls", "field"), _fields_with_env(), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_the_documented_default_reads_back_as_the_default(
    cls: type, field: dataclasses.Field[object], clean_env: pytest.MonkeyPatch
) -> None:
    """Each default the doc shows, written into the environment, gives the field its default value."""
    shown = config_docs.shown_default(field)
    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    if shown.startswith("*("):
        assert default in (None, (), frozenset()), (field.name, default)
        return
    written = shown.strip("`")
    if isinstance(default, Path):
        written = str(PROJECT_ROOT / written)
    clean_env.setenv(field.metadata["env"], written)
    assert field.metadata["parse"](field.metadata["env"], default) == default, f"{field.metadata['env']}={written}"


def test_every_setting_field_has_a_docstring() -> None:
    """The docstring under a field is its meaning in docs/settings.md."""
    for cls in settings_classes():
        docs = config_docs.field_docstrings(cls)
        for field in dataclasses.fields(cls):
            if "env" in field.metadata:
                assert docs.get(field.name), f"{cls.__name__}.{field.name} has no docstring for docs/settings.md"


def test_env_example_and_settings_doc_list_no_unknown_settings() -> None:
    ours = re.compile(r"^(SANDBOX|AUTH|LLM|ZHIPUAI)_")
    listed = {v for v in _env_example_vars() | _settings_doc_vars() if ours.match(v)}
    assert listed <= set(ALL_VARS), f"documented but not a setting: {sorted(listed - set(ALL_VARS))}"


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
