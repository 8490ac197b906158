"""Workspace paths, fuzzed: whatever symlinks a sandbox leaves and whatever path a client sends,
the host-side file code reaches only this thread's workspace, `/shared`, and its own user's
`/memories`; never another user's memory, never anything outside; uploads leave no partial file.

Properties (hypothesis) over symlink targets and request paths built from `..`, `.`, case
variants of the roots, unicode look-alikes and percent-escapes. No Docker: `HostFiles` runs on
the host, as the file routes and the agent's file tools use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.files.file_tools import HostFiles

SECRET = b"another user's secret"
FULLWIDTH_W = "\uff57"
PIECES = ["workspace", "memories", "shared", "Memories", "WORKSPACE", "..", ".", "", "outside", "bob", "é", "%2e%2e", "AGENTS.md"]
PIECES.append(f"{FULLWIDTH_W}orkspace")  # a look-alike of a root

segments = st.lists(st.sampled_from(PIECES), min_size=0, max_size=6)
targets = st.tuples(st.booleans(), segments).map(lambda t: ("/" if t[0] else "") + "/".join(t[1]) or ".")
names = st.sampled_from(["link", "Link", "lïnk", "dir/link", "a b"])
bases = st.sampled_from(["/workspace", "/memories", "/shared", "/WORKSPACE", "/"])
requests = st.tuples(bases, segments, st.sampled_from(["", "/link", "/dir/link"]))
Links = list[tuple[str, str]]
Asked = list[tuple[str, list[str], str]]


@contextmanager
def _layout() -> Iterator[tuple[Path, HostFiles]]:
    """alice's thread: workspace, shared, alice's memory; bob's memory and an outside folder beside them."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("workspace/dir", "shared", "memories/alice", "memories/bob", "outside"):
            (root / folder).mkdir(parents=True)
        (root / "memories/bob/AGENTS.md").write_bytes(SECRET)
        (root / "outside/AGENTS.md").write_bytes(SECRET)
        (root / "memories/alice/AGENTS.md").write_bytes(b"alice")
        yield root, HostFiles(root / "workspace", root / "shared", memories_dir=root / "memories/alice")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names, targets), min_size=1, max_size=3), st.lists(requests, min_size=1, max_size=4))
def test_no_path_or_symlink_reaches_another_users_memory_or_outside(links: Links, asked: Asked) -> None:
    with _layout() as (root, files):
        for name, target in links:
            link = root / "workspace" / name
            if not link.exists() and not link.is_symlink():
                os.symlink(target, link)
        before = {folder: _tree(root / folder) for folder in ("memories/bob", "outside", "shared")}
        for base, parts, tail in asked:
            path = "/".join([base.rstrip("/"), *parts]) + tail or "/"
            [download] = files.download_files([path])
            assert download.content != SECRET, (path, links)
            assert SECRET.decode() not in str(files.read(path).file_data or ""), (path, links)
            files.upload_files([(path, b"fuzz")])
            try:
                upload = files.stage_upload(path)
            except Exception:  # refusals are the point; only what lands matters
                continue
            upload.write(b"staged")
            upload.abort()
        assert {folder: _tree(root / folder) for folder in before} == before, "a write left alice's thread"
        staged = [p for p in root.rglob(".upload-*")]
        assert staged == [], f"an aborted upload left {staged}"
