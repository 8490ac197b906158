"""The test tree's own rules: shared helpers live in `tests/support/`, and every test file is in a tier CI runs.

A test module that imports a conftest or another test module couples two suites
(pytest may import the same file twice under two names, and moving one test breaks
the other); a helper two suites need belongs in `tests/support/`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.env import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"
SUPPORT = "tests.support"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)


def _is_test_module(name: str) -> bool:
    """A conftest or a `test_*` module (or a name inside one), wherever it lives: tests/support holds its own tests too."""
    return any(part == "conftest" or part.startswith("test_") for part in name.split("."))


def _imported_names(source: str, module: str) -> list[str]:
    """Every module (and `from` target, which may be a module) that `module`'s source imports, absolute."""
    package = module.rsplit(".", 1)[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def forbidden_imports(source: str, module: str) -> list[str]:
    """The imports in `module`'s source that reach a conftest, a test module, or a test folder's helper outside tests/support."""
    return [name for name in _imported_names(source, module) if _is_forbidden(name)]


def _is_forbidden(name: str) -> bool:
    top = name.split(".", 1)[0]
    if top == "conftest":
        return True
    if top != "tests" or name in {"tests", SUPPORT}:
        return False
    return not name.startswith(SUPPORT + ".") or _is_test_module(name)


PYTHON_FILES = sorted(p for p in TESTS.rglob("*.py") if "artifacts" not in p.parts)


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_test_code_imports_shared_helpers_only_from_tests_support(path: Path) -> None:
    found = forbidden_imports(path.read_text(encoding="utf-8"), _module_name(path))
    assert found == [], f"{path.relative_to(PROJECT_ROOT)}: move these helpers into tests/support/"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tests.e2e.conftest import AuthServer", ["tests.e2e.conftest", "tests.e2e.conftest.AuthServer"]),
        ("from tests.e2e.test_hitl import flow", ["tests.e2e.test_hitl", "tests.e2e.test_hitl.flow"]),
        ("from tests.browser import test_client", ["tests.browser", "tests.browser.test_client"]),
        ("from .conftest import make_settings", ["tests.sandbox.conftest", "tests.sandbox.conftest.make_settings"]),
        ("from . import server_process", ["tests.sandbox", "tests.sandbox.server_process"]),
        ("import conftest", ["conftest"]),
        ("from tests.support.test_scripted_llm import x", ["tests.support.test_scripted_llm", "tests.support.test_scripted_llm.x"]),
        ("from tests.support.scripted_llm import ScriptedLLM\nfrom tests.support import engines\nimport tests.support", []),
    ],
)
def test_the_rule_catches_every_spelling(source: str, expected: list[str]) -> None:
    """The check itself: absolute, relative and package-level imports of test code are all caught."""
    assert forbidden_imports(source, "tests.sandbox.test_probe") == expected
