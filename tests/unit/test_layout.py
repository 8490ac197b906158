"""The layout's rules, checked: imports point one way, and no module grows past 600 lines.

`server/` -> `agent/` -> `sandbox/` -> `config/`; `config/` imports none of them,
and the container builder never imports the file tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.env import PROJECT_ROOT

MAX_LINES = 600
LAYERS = ("server", "agent", "sandbox", "config")
"""Highest first: a package may import the ones after it, never the ones before."""


def _modules(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", LAYERS)
def test_imports_point_down(package: str) -> None:
    forbidden = LAYERS[: LAYERS.index(package)]
    for path in _modules(package):
        for name in _imported_packages(path):
            assert name.split(".")[0] not in forbidden, f"{path.relative_to(PROJECT_ROOT)} imports {name}"


def test_the_container_builder_does_not_import_the_file_tools() -> None:
    imported = _imported_packages(PROJECT_ROOT / "sandbox" / "container_spec.py")
    assert not imported & {"sandbox.file_tools", "sandbox.fd_walk", "sandbox.path_errors"}


@pytest.mark.parametrize("package", ["agent", "sandbox"])
def test_no_module_is_over_600_lines(package: str) -> None:
    for path in _modules(package):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(PROJECT_ROOT)} has {lines} lines; split it along a seam"
