"""The layout's rules, checked: imports point one way, sandbox modules live in sub-packages, none grows past 400 lines.

`server/` -> `agent/` -> `sandbox/` -> `config/`; `config/` imports none of them,
and the container builder never imports the file tools. `sandbox/` is
sub-packages named after its jobs; only its public entry sits beside them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.env import PROJECT_ROOT

MAX_LINES = 400
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


SANDBOX_JOBS = frozenset({"containers", "files", "disks", "coordination", "runs", "snapshots", "processes", "previews", "metrics", "mcp"})
SANDBOX_ENTRY = frozenset({"__init__.py", "backend.py"})
"""`sandbox/__init__.py` re-exports the public names; `sandbox/backend.py` is `DockerSandbox`, the one
class that puts all the jobs together for deepagents, so it belongs to none of them."""


def test_the_container_builder_does_not_import_the_file_tools() -> None:
    imported = _imported_packages(PROJECT_ROOT / "sandbox" / "containers" / "container_spec.py")
    assert imported, "the container builder moved: point this test at it"
    assert not {name for name in imported if name.startswith("sandbox.files")}


def test_sandbox_modules_live_in_job_sub_packages() -> None:
    root = PROJECT_ROOT / "sandbox"
    loose = sorted(path.name for path in root.glob("*.py") if path.name not in SANDBOX_ENTRY)
    assert not loose, f"sandbox/ modules outside a sub-package: {loose}; move each into the job it does"
    packages = {path.parent.name for path in root.glob("*/__init__.py")}
    assert packages == SANDBOX_JOBS, f"sandbox/ sub-packages are {sorted(packages)}; expected {sorted(SANDBOX_JOBS)}"
    for package in sorted(SANDBOX_JOBS):
        init = root / package / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init.relative_to(PROJECT_ROOT)} needs a docstring mapping its modules"
        assert len(tree.body) == 1, f"{init.relative_to(PROJECT_ROOT)} holds only its map: importing one module must not load the rest"
        modules = sorted(path.stem for path in (root / package).glob("*.py") if path.name != "__init__.py")
        unmapped = [name for name in modules if f"`{name}`" not in ast.get_docstring(tree, clean=False) or ""]
        assert not unmapped, f"{init.relative_to(PROJECT_ROOT)}'s map misses {unmapped}"
    stray = sorted(str(path.relative_to(root)) for path in root.rglob("*.py") if not (path.parent / "__init__.py").exists())
    assert not stray, f"sandbox/ modules in folders that are not packages: {stray}"


@pytest.mark.parametrize("package", ["agent", "sandbox", "server"])
def test_no_module_is_over_400_lines(package: str) -> None:
    for path in _modules(package):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(PROJECT_ROOT)} has {lines} lines; split it along a seam"
