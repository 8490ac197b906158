"""The test tree's own rules: shared helpers live in `tests/support/`, and every test file is in a tier CI runs.

A test module that imports a conftest or another test module couples two suites
(pytest may import the same file twice under two names, and moving one test breaks
the other); a helper two suites need belongs in `tests/support/`.
"""

from __future__ import annotations

import ast
import itertools
import re
import shlex
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from config.env import PROJECT_ROOT
from tests.support.tiers import ALL_TIERS, TIER_FOLDERS, TIERS, tier_of

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


# --- tiers ---------------------------------------------------------------------------

TEST_FOLDERS = {"unit", "support", *TIER_FOLDERS}
"""Where test files live; a new folder must be given a tier here and in `tests.support.tiers`."""
AUX_MARKERS = ("docker", "contract", "aegra", "e2e")
"""Markers a test may carry next to its tier; the full command must not drop a tier for any of them."""
PYTEST_LINE = re.compile(r"^uv run pytest\b(?P<args>.*)$", re.MULTILINE)


def _file_markers(source: str) -> set[str]:
    """The markers a module gives all its tests (`pytestmark`), as written in its source."""
    found: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            found |= {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)}
    return found


def _mark_expression(command_args: str) -> str | None:
    """The `-m` expression of a `uv run pytest ...` command line (None: no `-m`, only the unit tier runs)."""
    words = shlex.split(command_args)
    return words[words.index("-m") + 1] if "-m" in words else None


def _runs_every_tier(expression: str | None) -> list[str]:
    """The tiers the expression leaves out, for any combination of the other markers a test may carry."""
    if expression is None:
        return [tier for tier in TIERS if tier != "unit"]
    compiled = Expression.compile(expression)
    left_out = []
    for tier in TIERS:
        for count in range(len(AUX_MARKERS) + 1):
            for extra in itertools.combinations(AUX_MARKERS, count):
                marks = {tier, *extra}
                if not compiled.evaluate(lambda name, marks=marks: name in marks):
                    left_out.append(f"{tier} (with {', '.join(extra) or 'no other marker'})")
    return left_out


TEST_FILES = sorted(p for p in TESTS.rglob("test_*.py") if "artifacts" not in p.parts)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_every_test_file_is_in_a_known_folder_and_tier(path: Path) -> None:
    relative = path.relative_to(TESTS).as_posix()
    assert relative.split("/", 1)[0] in TEST_FOLDERS, f"{relative}: put it in one of {sorted(TEST_FOLDERS)}"
    assert tier_of(relative, _file_markers(path.read_text(encoding="utf-8"))) in TIERS


def _commands(text: str) -> list[str]:
    return [m.group("args") for m in PYTEST_LINE.finditer(text)]


def test_ci_runs_the_readmes_test_command() -> None:
    ci = _commands((PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    readme = _commands((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(ci) == 1, f".ci/run should run one pytest command, runs {ci}"
    assert ci[0] in readme, f".ci/run runs `uv run pytest{ci[0]}`, which the README's commands {readme} do not show"


def test_the_ci_command_runs_every_tier() -> None:
    [args] = _commands((PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert _runs_every_tier(_mark_expression(args)) == []
    assert _runs_every_tier(ALL_TIERS) == []


@pytest.mark.parametrize(
    ("args", "left_out"),
    [
        ("", ["sandbox", "e2e", "browser"]),
        (' -m "unit or sandbox or e2e"', ["browser"]),
        (' -m "unit or sandbox or e2e or browser and not aegra"', ["browser"]),
        (" -m 'not aegra'", ["unit", "sandbox", "e2e", "browser"]),
    ],
)
def test_the_tier_check_sees_a_dropped_tier(args: str, left_out: list[str]) -> None:
    """The check itself: a command without `-m`, or one that drops a tier (even only with Aegra), is caught."""
    found = {entry.split(" ", 1)[0] for entry in _runs_every_tier(_mark_expression(args))}
    assert found == set(left_out)


def test_tier_of_follows_the_folder_then_the_markers() -> None:
    assert tier_of("browser/test_client.py", {"docker"}) == "browser"
    assert tier_of("e2e/test_hitl.py", {"docker", "e2e"}) == "e2e"
    assert tier_of("sandbox/test_hardening.py", set()) == "sandbox"
    assert tier_of("support/test_langgraph_server.py", {"e2e"}) == "e2e"
    assert tier_of("support/test_scripted_llm.py", set()) == "unit"
    assert tier_of("unit/test_settings.py", set()) == "unit"
