"""Permission rules cannot be walked around with symlinks or `..`: real files, the real backend's walk.

Each case first shows the walk-around is real (the file tool reaches the
protected file through the other spelling), then that the policy, resolving the
path with the same walk (`HostFiles.canonical`), decides as for the protected
path itself. A hypothesis test builds random symlink chains into a denied folder.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.policy.enforcement import ToolPolicy
from agent.policy.rules import parse_rules
from sandbox import DockerSandbox, SandboxDeployment
from sandbox.disks.workspace import workspace_path

pytestmark = pytest.mark.docker

ADMIN = parse_rules(
    [
        {"name": "no secrets", "paths": ["**/.env", "/workspace/secret", "/workspace/secret/**"], "mode": "deny"},
        {"name": "src is free", "tools": ["write_file", "edit_file"], "paths": ["src/**"], "mode": "allow"},
    ],
    "admin",
)


class Thread:
    """One thread's sandbox with a `.env`, a `secret/` folder and a `src/` folder, and the admin policy above."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.box = DockerSandbox(f"policy-{uuid.uuid4().hex[:8]}", deployment)
        for path in ("/workspace/.env", "/workspace/secret/key", "/workspace/src/app.py", "/workspace/notes/readme.md"):
            assert self.box.write(path, f"content of {path}\n").error is None
        self.root = workspace_path(deployment.settings, self.box.thread_id)
        self.policy = ToolPolicy(ADMIN, self.box)

    def link(self, name: str, target: str) -> None:
        """A symlink at `/workspace/<name>` to `target`, as the agent's shell would make it."""
        os.symlink(target, self.root / name)

    def decision(self, tool: str, path: str) -> str:
        return self.policy.decide({"name": tool, "args": {"file_path": path}, "id": "c"}, {}).decision


@pytest.fixture
def thread(deployment: SandboxDeployment) -> Thread:
    return Thread(deployment)


@pytest.mark.parametrize(
    ("links", "path", "reaches"),
    [
        ({"e": "/workspace/.env"}, "/workspace/e", "/workspace/.env"),
        ({"notes/cfg": "../.env"}, "/workspace/notes/cfg", "/workspace/.env"),
        ({"s": "secret"}, "/workspace/s/key", "/workspace/secret/key"),
        ({"a": "notes", "notes/up": ".."}, "/workspace/a/up/secret/key", "/workspace/secret/key"),
        ({"one": "two", "two": "three", "three": "/workspace/secret"}, "/workspace/one/key", "/workspace/secret/key"),
    ],
)
def test_symlinks_and_dotdot_do_not_walk_around_a_deny(thread: Thread, links: dict[str, str], path: str, reaches: str) -> None:
    for name, target in links.items():
        thread.link(name, target)
    read = thread.box.read(path)
    assert read.error is None, read.error
    assert read.file_data is not None
    assert read.file_data["content"].rstrip("\n") == f"content of {reaches}", (
        "the walk-around does not reach the file: the test proves nothing"
    )
    assert thread.box.files().canonical(path).path == reaches
    for tool in ("read_file", "write_file", "edit_file"):
        assert thread.decision(tool, path) == "deny", (tool, path)


def test_a_new_file_through_a_linked_folder_is_denied(thread: Thread) -> None:
    thread.link("s", "/workspace/secret")
    assert thread.box.files().canonical("/workspace/s/new/deeper.txt").path == "/workspace/secret/new/deeper.txt"
    assert thread.decision("write_file", "/workspace/s/new/deeper.txt") == "deny"


def test_an_allow_rule_is_not_stretched_by_a_link_out_of_its_folder(thread: Thread) -> None:
    assert thread.decision("write_file", "/workspace/src/app.py") == "allow"
    thread.link("src/out", "/workspace/notes")
    assert thread.decision("write_file", "/workspace/src/out/readme.md") == "ask"  # the defaults: it lands in notes/


def test_deleting_a_link_removes_the_link_not_its_target(thread: Thread) -> None:
    thread.link("e", "/workspace/.env")
    assert thread.decision("delete", "/workspace/e") == "ask"  # the approval default, not the deny on .env
    assert thread.decision("delete", "/workspace/.env") == "deny"
    assert thread.decision("delete", "/workspace/secret") == "deny"
    assert thread.decision("delete", "/workspace/notes/readme.md") == "ask"  # a file: nothing below it
    assert thread.decision("delete", "/workspace/notes") == "deny"  # a folder: a .env may be inside


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hops=st.lists(st.sampled_from(["absolute", "relative", "via-parent"]), min_size=1, max_size=5), below=st.booleans())
def test_any_chain_of_links_into_a_denied_folder_is_denied(deployment: SandboxDeployment, hops: list[str], below: bool) -> None:
    thread = Thread(deployment)
    target = "/workspace/secret"
    for index, kind in enumerate(reversed(hops)):
        name = f"hop{index}"
        relative = os.path.relpath(target, "/workspace")
        link_to = {"absolute": target, "relative": relative, "via-parent": f"notes/../{relative}"}[kind]
        thread.link(name, link_to)
        target = f"/workspace/{name}"
    path = f"{target}/key" if below else target
    assert thread.box.files().canonical(path).path == ("/workspace/secret/key" if below else "/workspace/secret")
    assert thread.decision("read_file", path) == "deny", (hops, path)


def test_paths_that_leave_the_roots_are_matched_as_written(thread: Thread, tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("host\n")
    thread.link("out", str(tmp_path / "outside"))
    assert thread.box.read("/workspace/out").error is not None  # the file tools refuse it themselves
    assert thread.decision("read_file", "/workspace/out") == "allow"  # no rule matches its spelling; the tool refuses
