"""The sandbox keeps no module-level state but the one accessor, `sandbox_process()`.

`langgraph.json` imports the graph, the auth module and the HTTP app separately,
so state that lives in a module is state nobody owns: several copies of one
registry, after-fork hooks scattered over modules, caches tests cannot reset.
This test reads every sandbox module's syntax tree and lists what could hold
state across calls; the only entries allowed are named below, with the reason.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from config.env import PROJECT_ROOT

SANDBOX = PROJECT_ROOT / "sandbox"

IMMUTABLE_FACTORIES = {
    "logging.getLogger": "logging's own registry hands out the logger; we keep nothing in it",
    "re.compile": "a compiled pattern cannot change",
    "struct.Struct": "a compiled binary format cannot change",
    "frozenset": "immutable",
    "MappingProxyType": "a read-only view of a dict display that nothing else holds: immutable",
    "tuple": "immutable",
    "ContextVar": "each task and thread sees its own value: nothing is shared process-wide",
    "contextvars.ContextVar": "each task and thread sees its own value: nothing is shared process-wide",
    "field": "a dataclass field declaration: each instance gets its own value",
    "dataclasses.field": "a dataclass field declaration: each instance gets its own value",
    "setting": "a settings dataclass field declaration",
    "ctypes.CDLL": "a handle on a library the dynamic loader holds loaded anyway",
    "TypeVar": "a type variable",
}
"""Calls whose result, bound at module level, holds no state of ours."""

STATE_CACHES = {"cache", "lru_cache", "functools.cache", "functools.lru_cache"}

ALLOWED = {
    ("coordination/process_state.py", "_HOLDER"): "the accessor's one slot: `sandbox_process()` is the only way to process-wide state",
    ("coordination/process_state.py", "os.register_at_fork"): "the one after-fork hook: it resets the one state object in a forked child",
}
"""(module, name) -> why it may stay: the accessor, and nothing else."""


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return type(node).__name__


def _targets(node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [_dotted(target) for target in targets]


MUTABLE_DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def _body_state(body: list[ast.stmt], where: str) -> list[tuple[str, str]]:
    """(name, what) for each statement of a module or class body that may hold state."""
    found: list[tuple[str, str]] = []
    for node in body:
        if isinstance(node, ast.ClassDef):
            found += _body_state(node.body, f"{where}{node.name}.")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if _dotted(decorator) in STATE_CACHES:
                    found.append((f"{where}{node.name}", f"@{_dotted(decorator)}: a cache that lives as long as the process"))
        elif isinstance(node, ast.AugAssign):
            found += [(f"{where}{name}", "rebound at import") for name in _targets(node)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            value = node.value
            if isinstance(value, MUTABLE_DISPLAYS):
                found += [(f"{where}{name}", f"a mutable {type(value).__name__.lower()}") for name in _targets(node)]
            elif isinstance(value, ast.Call) and _dotted(value.func) not in IMMUTABLE_FACTORIES:
                found += [(f"{where}{name}", f"the result of {_dotted(value.func)}()") for name in _targets(node)]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            found.append((_dotted(node.value.func), "a call at import (it registers state somewhere)"))
    return found


def module_state(path: Path) -> list[tuple[str, str]]:
    """Everything in `path` that could hold state across calls, as (name, what)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = _body_state(tree.body, "")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            found += [(name, f"a `{type(node).__name__.lower()}` statement") for name in node.names]
    return found


def test_no_sandbox_module_keeps_state_but_the_accessor() -> None:
    found = []
    seen_allowed = set()
    for path in sorted(SANDBOX.rglob("*.py")):
        module = path.relative_to(SANDBOX).as_posix()
        for name, what in module_state(path):
            if (module, name) in ALLOWED:
                seen_allowed.add((module, name))
            else:
                found.append(f"sandbox/{module}: {name} ({what})")
    assert not found, "module-level state outside `sandbox_process()`:\n" + "\n".join(found)
    assert seen_allowed == set(ALLOWED), f"allow-list entries that no longer exist: {set(ALLOWED) - seen_allowed}"


def test_the_checker_sees_each_kind_of_state(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        textwrap.dedent(
            """
            import functools, logging, re, threading
            logger = logging.getLogger(__name__)
            PATTERN = re.compile("x")
            NAMES = ("a", "b")
            _cache = {}
            _lock = threading.Lock()
            COUNT = 0
            COUNT += 1
            class Registry:
                items = []
            @functools.cache
            def factory():
                return object()
            def rebind():
                global COUNT
            import os
            os.register_at_fork(after_in_child=rebind)
            """
        )
    )
    names = {name for name, _ in module_state(sample)}
    assert names == {"_cache", "_lock", "COUNT", "Registry.items", "factory", "os.register_at_fork"}


def test_one_state_object_per_process_shared_by_every_import_path() -> None:
    """The graph's, the file routes' and the server's removal see one deployment and one set of settings."""
    code = textwrap.dedent(
        """
        import os
        from sandbox import sandbox_process
        from sandbox.coordination.process_state import sandbox_process as again
        state = sandbox_process()
        assert state is again()
        assert state.deployment is state.deployment and state.deployment.settings is state.settings
        assert state.deployment in state.deployments
        pid = os.fork()
        if pid == 0:
            child = sandbox_process()
            os._exit(0 if child is state and not child.leases and not child.use_holds else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, "a forked child must reset the one state object, not make another"
        print("ok")
        """
    )
    env = {**os.environ, "SANDBOX_WORKSPACES_DIR": "/nonexistent-never-touched"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=60, check=False)
    assert done.stdout.strip() == "ok", done.stderr
