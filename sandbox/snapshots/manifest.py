"""What one workspace snapshot records: every file's content hash and mode, every symlink, every folder.

A manifest names contents, never holds them: a file is the sha256 of its bytes,
stored once in the thread's blob store (`sandbox.snapshots.store`), so a snapshot
that changed one file of a thousand costs one blob and one small manifest.
Each file entry also keeps the stat fields (size, mtime, ctime, inode) it was
hashed at; the next scan re-reads only files whose stat fields differ
(`sandbox.snapshots.tree_scan`). The ctime cannot be set from user space, so a
file rewritten with its old mtime restored is still re-read.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

SNAPSHOT_ID = re.compile(r"^[0-9]{10}-[0-9a-f]{16}$")
"""`<sequence>-<content hash>`: ids sort in the order they were taken (the state's reducer keeps the latest)."""

type FileEntry = tuple[str, int, int, int, int, int]
"""(sha256, mode, size, mtime_ns, ctime_ns, inode)."""


def is_snapshot_id(value: object) -> bool:
    """Whether `value` can name a snapshot (ids become file names: nothing else ever reaches the store)."""
    return isinstance(value, str) and SNAPSHOT_ID.match(value) is not None


def latest_snapshot(left: str | None, right: str | None) -> str | None:
    """The graph state's reducer: of two ids written in one step (parallel tool calls), the later one."""
    if not is_snapshot_id(right):
        return left
    if not is_snapshot_id(left):
        return right
    return max(left, right)  # type: ignore[type-var]


@dataclass
class Manifest:
    """The tree of one snapshot, by path relative to `/workspace`."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    """Symlink path -> its target, as written (never followed)."""
    dirs: dict[str, int] = field(default_factory=dict)
    """Folder path -> its permission bits."""
    _key: str | None = field(default=None, compare=False, repr=False)
    """`content_key()`, once computed: a stored manifest never changes, and the head's is compared at every snapshot."""

    def copy(self) -> Manifest:
        """A copy whose dicts can be changed without touching this (cached, immutable) one."""
        return Manifest(dict(self.files), dict(self.links), dict(self.dirs))

    def content_key(self) -> str:
        """A hash of what a restore would write: contents, modes, links and folders; stat fields left out.

        Computed once: callers finish changing a manifest (a scan) before they ask.
        """
        if self._key is not None:
            return self._key
        digest = hashlib.sha256()
        for path in sorted(self.files):
            sha, mode = self.files[path][:2]
            digest.update(f"f\0{path}\0{sha}\0{mode}\n".encode("utf-8", "surrogateescape"))
        for path in sorted(self.links):
            digest.update(f"l\0{path}\0{self.links[path]}\n".encode("utf-8", "surrogateescape"))
        for path in sorted(self.dirs):
            digest.update(f"d\0{path}\0{self.dirs[path]}\n".encode("utf-8", "surrogateescape"))
        self._key = digest.hexdigest()
        return self._key

    def drop(self, path: str) -> None:
        """Forget `path` and everything below it (before it is scanned again)."""
        self._key = None
        prefix = path + "/"
        for table in (self.files, self.links, self.dirs):
            for name in [name for name in table if name == path or name.startswith(prefix)]:
                del table[name]

    def to_json(self) -> bytes:
        """The stored form (file names may be any bytes: kept with `surrogateescape`)."""
        body = {"files": self.files, "links": self.links, "dirs": self.dirs}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Read the stored form back."""
        body: dict[str, Any] = json.loads(data)
        files = {path: (str(e[0]), int(e[1]), int(e[2]), int(e[3]), int(e[4]), int(e[5])) for path, e in body["files"].items()}
        return cls(files, {p: str(t) for p, t in body["links"].items()}, {p: int(m) for p, m in body["dirs"].items()})


@dataclass(frozen=True)
class Exclusions:
    """`SANDBOX_SNAPSHOT_EXCLUDE` and `SANDBOX_SNAPSHOT_MAX_FILE`: what snapshots leave out and restores never touch."""

    patterns: tuple[str, ...] = ()
    max_file_bytes: int = 64 * 1024**2

    def excluded(self, rel: str) -> bool:
        """Whether `rel` (a path from `/workspace`) is left out: a name pattern matches its last part, a path pattern all of it."""
        name = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(rel if "/" in pattern else name, pattern) for pattern in self.patterns)
