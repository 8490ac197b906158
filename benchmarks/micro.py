"""Sections 1-3: `execute` round trips against raw Docker, file tools against deepagents.

Every floor is the cheapest way to get the same work done with the same tool:
docker-py's low-level API for commands (on the same image, command and client),
and deepagents' own `FilesystemBackend` on the very same directory for files. So
the ratios isolate what our code adds, not what Docker or the disk costs.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from deepagents.backends import FilesystemBackend

from benchmarks.stats import Samples, SectionResult, Target, interleaved, median, ratio_row
from config.identity import SINGLE_USER_ID
from sandbox import DockerSandbox, SandboxDeployment, SandboxSettings
from sandbox.containers.container_spec import container_kwargs
from sandbox.disks.workspace import ensure_workspace

BENCH_LABEL = "io.github.deepagents-docker-sandbox.benchmark"
"""Put on every floor container, so cleanup can find them by label."""

ECHO_ARGV = ["sh", "-c", "echo hi"]
ECHO_COMMAND = "echo hi"

EPHEMERAL_TARGET = Target(1.15)
SESSION_TARGET = Target(1.3)
RUNNER_TARGET = Target(0.5)
FILE_TARGET = Target(1.5)

BIG_FILE_BYTES = 100 * 1024
TREE_DIRS = 10
TREE_FILES_PER_DIR = 100
NEEDLE = "needle_value = 42"
NEEDLE_EVERY = 10
"""One tree file in `NEEDLE_EVERY` contains `NEEDLE`, so grep returns 100 matches."""
EDIT_A, EDIT_B = "EDIT-MARK-AAAA", "EDIT-MARK-BBBB"


class BenchmarkError(RuntimeError):
    """A variant returned a wrong answer, so its timing would be meaningless."""


def _check(condition: bool, message: str) -> None:  # noqa: FBT001
    if not condition:
        raise BenchmarkError(message)


# --------------------------------------------------------------------------- #
# Raw Docker floors
# --------------------------------------------------------------------------- #


def run_container(api: docker.APIClient, kwargs: dict[str, Any]) -> bytes:
    """The textbook docker-py round trip: create, start, wait, logs, remove."""
    container_id = api.create_container(**kwargs)["Id"]
    try:
        api.start(container_id)
        api.wait(container_id)
        return bytes(api.logs(container_id, stdout=True, stderr=True))
    finally:
        api.remove_container(container_id, force=True)


def exec_in(api: docker.APIClient, container_id: str, argv: list[str], *, user: str = "") -> tuple[bytes, int | None]:
    """The textbook `docker exec`: create, start (collecting output), inspect for the exit code."""
    exec_id = api.exec_create(container_id, argv, user=user)["Id"]
    output = api.exec_start(exec_id)
    return output, api.exec_inspect(exec_id).get("ExitCode")


def _checked_execute(box: DockerSandbox) -> Callable[[], None]:
    def run() -> None:
        response = box.execute(ECHO_COMMAND)
        _check(response.exit_code == 0 and response.output.strip() == "hi", f"execute returned {response!r}")

    return run


def _checked_container(api: docker.APIClient, kwargs: dict[str, Any]) -> Callable[[], None]:
    def run() -> None:
        output = run_container(api, kwargs)
        _check(output.strip() == b"hi", f"floor container printed {output!r}")

    return run


def _checked_exec(api: docker.APIClient, container_id: str, user: str) -> Callable[[], None]:
    def run() -> None:
        output, code = exec_in(api, container_id, ECHO_ARGV, user=user)
        _check(code == 0 and output.strip() == b"hi", f"floor exec returned {code} {output!r}")

    return run


def _checked_true(box: DockerSandbox) -> Callable[[], None]:
    def run() -> None:
        response = box.execute("true")
        _check(response.exit_code == 0 and response.output == "", f"execute returned {response!r}")

    return run


def _checked_exec_true(api: docker.APIClient, container_id: str, user: str) -> Callable[[], None]:
    def run() -> None:
        output, code = exec_in(api, container_id, ["true"], user=user)
        _check(code == 0 and output == b"", f"floor exec returned {code} {output!r}")

    return run


def _wait_for_runner(deployment: SandboxDeployment, container_id: str) -> None:
    deadline = time.monotonic() + 10
    while not deployment.runners.ping(deployment.api, container_id):
        _check(time.monotonic() < deadline, "the session container's command runner did not come up")
        time.sleep(0.05)


def _spread(samples: Samples, name: str) -> str:
    values = sorted(samples[name])
    return f"{name}: median {median(values) * 1000:.1f} ms, min {values[0] * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms (n={len(values)})"


def bench_execute_ephemeral(settings: SandboxSettings, *, iterations: int, warmup: int) -> SectionResult:
    """Section 1: a fresh container per command, against the same round trip done by hand."""
    deployment = SandboxDeployment(settings.with_overrides(mode="ephemeral"))
    try:
        api = deployment.start()
        thread_id = "bench-ephemeral"
        box = DockerSandbox(thread_id, deployment)
        plain = {"image": settings.image, "command": ECHO_ARGV, "labels": {BENCH_LABEL: "plain"}}
        hardened = container_kwargs(
            settings, api=api, thread_id=thread_id, user_id=box.user_id, mode="ephemeral", image=settings.image, command=ECHO_ARGV
        )
        hardened["labels"] = {**hardened["labels"], BENCH_LABEL: "hardened"}
        samples = interleaved(
            {
                "ours": _checked_execute(box),
                "floor (b) hardened": _checked_container(api, hardened),
                "floor (a) plain": _checked_container(api, plain),
            },
            iterations=iterations,
            warmup=warmup,
        )
    finally:
        deployment.close(remove_sessions=True)
    result = SectionResult()
    result.rows.append(
        ratio_row(
            "1",
            "execute `echo hi`, ephemeral vs raw hardened container (b)",
            samples["ours"],
            samples["floor (b) hardened"],
            unit="ms",
            target=EPHEMERAL_TARGET,
        )
    )
    result.rows.append(
        ratio_row(
            "1",
            "execute `echo hi`, ephemeral vs raw plain container (a)",
            samples["ours"],
            samples["floor (a) plain"],
            unit="ms",
            target=None,
        )
    )
    result.details.extend(_spread(samples, name) for name in samples)
    result.details.append(
        "(a) is usually the slowest: a plain container gets the default bridge network (netns + veth setup), "
        "while ours and (b) run with network_mode=none; (b) is the like-for-like floor."
    )
    return result


def bench_execute_session(settings: SandboxSettings, *, iterations: int, warmup: int) -> SectionResult:
    """Section 2: a command in the thread's warm container (through its command runner), against bare execs into the same one."""
    deployment = SandboxDeployment(settings.with_overrides(mode="session"))
    try:
        thread_id = "bench-session"
        box = DockerSandbox(thread_id, deployment)
        _checked_execute(box)()  # starts the session container outside the timing
        with deployment.session_container(box.thread()) as container_id:
            pass
        _wait_for_runner(deployment, container_id)
        fell_back = deployment.runners.fell_back
        sandbox_user = f"{settings.uid}:{settings.gid}"
        samples = interleaved(
            {"ours": _checked_execute(box), "floor exec": _checked_exec(deployment.api, container_id, sandbox_user)},
            iterations=iterations,
            warmup=warmup,
        )
        samples |= {
            f"{name} true": values
            for name, values in interleaved(
                {"ours": _checked_true(box), "floor exec": _checked_exec_true(deployment.api, container_id, sandbox_user)},
                iterations=iterations,
                warmup=warmup,
            ).items()
        }
        _check(deployment.runners.fell_back == fell_back, "a timed command went through docker exec, not the runner")
    finally:
        deployment.close(remove_sessions=True)
    result = SectionResult()
    result.rows.append(
        ratio_row(
            "2",
            "execute `echo hi`, session vs raw exec in same container",
            samples["ours"],
            samples["floor exec"],
            unit="ms",
            target=SESSION_TARGET,
        )
    )
    result.rows.append(
        ratio_row(
            "2",
            "execute `true`, session (command runner) vs raw `docker exec true` in same container",
            samples["ours true"],
            samples["floor exec true"],
            unit="ms",
            target=RUNNER_TARGET,
        )
    )
    result.details.extend(_spread(samples, name) for name in samples)
    result.details.append(
        "Ours runs through the container's command runner (a unix socket, then a fork inside the container) "
        "with the in-container timeout/output-cap wrapper (sh + timeout + head); the floors are bare execs "
        "of `sh -c 'echo hi'` and of `true` (as the sandbox user)."
    )
    return result


# --------------------------------------------------------------------------- #
# File tools
# --------------------------------------------------------------------------- #


def big_text() -> str:
    """About 100 KB of numbered lines with one edit marker in the middle."""
    lines = [f"line {i:05d}: the quick brown fox jumps over the lazy dog 0123456789\n" for i in range(BIG_FILE_BYTES // 70)]
    lines[len(lines) // 2] = f"line marker: {EDIT_A}\n"
    return "".join(lines)


def populate(workspace: Path, uid: int, gid: int) -> None:
    """Lay out the fixture: two 100 KB files to edit, one to read, a 1,000-file tree, a writes dir.

    Everything is handed to the sandbox user, since our file tools act with its
    permissions when the server is root (deepagents' backend acts as root).
    """
    text = big_text()
    for name in ("big.txt", "big-ours.txt", "big-theirs.txt"):
        (workspace / name).write_text(text, encoding="utf-8")
    (workspace / "writes").mkdir()
    for d in range(TREE_DIRS):
        package = workspace / "tree" / f"pkg{d}"
        package.mkdir(parents=True)
        for f in range(TREE_FILES_PER_DIR):
            body = "".join(f"def f{n}():\n    return {n}\n" for n in range(20))
            if f % NEEDLE_EVERY == 0:
                body += f"{NEEDLE}\n"
            (package / f"mod{f:03d}.py").write_text(body, encoding="utf-8")
    if os.geteuid() == 0:
        for path in [workspace, *workspace.rglob("*")]:
            os.chown(path, uid, gid, follow_symlinks=False)


@dataclass(frozen=True)
class FileOp:
    """One file tool, as a call on our sandbox and the same call on deepagents' backend."""

    name: str
    ours: Callable[[], object]
    theirs: Callable[[], object]


def _ok(result: Any, what: str) -> Any:
    error = getattr(result, "error", None)
    _check(error is None, f"{what} failed: {error}")
    return result


def _writer(backend: Any, prefix: str, name: str, text: str) -> Callable[[], object]:
    counter = itertools.count()
    return lambda: _ok(backend.write(f"{prefix}/writes/{name}-{next(counter)}.txt", text), f"{name} write")


def _editor(backend: Any, path: str) -> Callable[[], object]:
    """Toggle the marker back and forth, so every call is a real single-occurrence edit."""
    states = itertools.cycle([(EDIT_A, EDIT_B), (EDIT_B, EDIT_A)])

    def edit() -> object:
        old, new = next(states)
        return _ok(backend.edit(path, old, new), f"edit {path}")

    return edit


def file_ops(box: DockerSandbox, theirs: FilesystemBackend) -> list[FileOp]:
    """The six tools, with paths `/workspace/...` for ours and `/...` for deepagents'."""
    text = big_text()
    return [
        FileOp("write 100 KB", _writer(box, "/workspace", "ours", text), _writer(theirs, "", "theirs", text)),
        FileOp("read 100 KB", lambda: _ok(box.read("/workspace/big.txt"), "read"), lambda: _ok(theirs.read("/big.txt"), "read")),
        FileOp("edit 100 KB", _editor(box, "/workspace/big-ours.txt"), _editor(theirs, "/big-theirs.txt")),
        FileOp("ls 100-entry dir", lambda: _ok(box.ls("/workspace/tree/pkg0"), "ls"), lambda: _ok(theirs.ls("/tree/pkg0"), "ls")),
        FileOp(
            "glob **/*.py, 1,000 files",
            lambda: _ok(box.glob("**/*.py", "/workspace/tree"), "glob"),
            lambda: _ok(theirs.glob("**/*.py", "/tree"), "glob"),
        ),
        FileOp(
            "grep literal, 1,000 files",
            lambda: _ok(box.grep(NEEDLE, "/workspace/tree"), "grep"),
            lambda: _ok(theirs.grep(NEEDLE, "/tree"), "grep"),
        ),
    ]


def _sizes(op: FileOp) -> tuple[int, int]:
    """How many items each side returned (lines read, entries, matches), to prove like-for-like."""

    def size(result: Any) -> int:
        for attribute in ("entries", "matches"):
            value = getattr(result, attribute, None)
            if value is not None:
                return len(value)
        data = getattr(result, "file_data", None)
        return len(data["content"]) if data else 1

    return size(op.ours()), size(op.theirs())


def bench_file_ops(settings: SandboxSettings, *, iterations: int, warmup: int) -> SectionResult:
    """Section 3: our host-side file tools against deepagents' `FilesystemBackend` on the same workspace."""
    deployment = SandboxDeployment(settings)
    thread_id = "bench-files"
    workspace = ensure_workspace(settings, thread_id, user_id=SINGLE_USER_ID)
    populate(workspace, settings.uid, settings.gid)
    box = DockerSandbox(thread_id, deployment)
    theirs = FilesystemBackend(root_dir=workspace, virtual_mode=True)
    result = SectionResult()
    for op in file_ops(box, theirs):
        ours_size, their_size = _sizes(op)
        samples = interleaved({"ours": op.ours, "theirs": op.theirs}, iterations=iterations, warmup=warmup)
        result.rows.append(
            ratio_row("3", f"file {op.name} vs FilesystemBackend", samples["ours"], samples["theirs"], unit="ms", target=FILE_TARGET)
        )
        note = "" if ours_size == their_size else " (differs)"
        result.details.append(f"{op.name}: ours returned {ours_size}, FilesystemBackend {their_size} (items or characters){note}")
    return result
