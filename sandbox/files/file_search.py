"""The file tools' searches: `glob` and `grep` over one thread's roots, within a time budget.

Both walk whole trees through `sandbox.files.fd_walk.TreeWalk` (race-free, never
following a symlink out of the roots) and stop at a deadline or a match cap, so
a huge workspace or a symlink maze cannot hold a worker thread for long. The
deadline's result says it was cut (`truncated`), not that nothing more matched.
`HostFiles` (`sandbox.files.file_tools`) inherits them.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from abc import abstractmethod
from datetime import UTC, datetime
from typing import Literal

from deepagents.backends.protocol import FileInfo, GlobResult, GrepResult
from deepagents.backends.utils import InvalidGlobPatternError, compile_grep_include_glob

from sandbox.files.fd_walk import Target, TreeWalk, VPath, open_regular_at, reopen_regular
from sandbox.files.path_errors import PathError, message, reason
from sandbox.files.text_ops import GrepSearch
from sandbox.files.walk_session import WalkSession

MAX_GREP_FILE_BYTES = 10 * 1024 * 1024
"""Files above this are skipped by `grep`, like `FilesystemBackend`."""
GLOB_TIME_BUDGET = 5.0
GLOB_MAX_MATCHES = 10_000
GREP_TIME_BUDGET = 15.0


def _iso(st: os.stat_result) -> str:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat()


def file_info(path: str, st: os.stat_result) -> FileInfo:
    """What `ls` and `glob` say about one entry (directories report size 0, as deepagents' backends do)."""
    is_dir = stat.S_ISDIR(st.st_mode)
    return {"path": path, "is_dir": is_dir, "size": 0 if is_dir else st.st_size, "modified_at": _iso(st)}


class HostSearch:
    """`glob` and `grep`; `HostFiles` supplies the path parsing and the walk session."""

    @abstractmethod
    def _parse(self, path: object) -> VPath:
        """Normalise a container path."""

    @abstractmethod
    def _session(self, root: str | None, *, create: bool = False) -> contextlib.AbstractContextManager[WalkSession]:
        """A walk session over the roots that starts at `root`, as the sandbox user."""

    def _search_targets(self, s: WalkSession, vp: VPath) -> tuple[list[tuple[str, str, int]], Target | None]:
        """Directory trees to walk as `(virtual prefix, glob prefix, O_PATH fd)`, or the one non-directory `vp` names."""
        if vp.root is None:
            return [(f"/{r}", f"{r}/", fd) for r, fd in s.all_roots()], None
        target = s.resolve(vp)
        if target.fd is None:
            return [], None
        if stat.S_ISDIR(os.fstat(target.fd).st_mode):
            return [(vp.text, "", target.fd)], None
        return [], target

    def glob(self, pattern: str, path: str | None = None) -> GlobResult:
        """Regular files whose search-root-relative path matches `pattern`, as absolute paths."""
        try:
            matcher = compile_grep_include_glob(pattern)
        except InvalidGlobPatternError as exc:
            return GlobResult(error=str(exc), matches=None)
        except Exception as exc:
            return GlobResult(error=f"Invalid glob pattern {pattern!r}: {reason(exc)}", matches=None)
        try:
            vp = self._parse(path or "/workspace")
            deadline = time.monotonic() + GLOB_TIME_BUDGET
            matches: list[FileInfo] = []
            budget_hit = unreadable = False
            with self._session(vp.root) as s:
                for vprefix, gprefix, fd in self._search_targets(s, vp)[0]:
                    walk = TreeWalk(fd, deadline)
                    with contextlib.closing(walk.files()) as files:
                        for _, _, rel, st in files:
                            if not matcher(gprefix + rel):
                                continue
                            if len(matches) >= GLOB_MAX_MATCHES:
                                budget_hit = True
                                break
                            matches.append(file_info(f"{vprefix}/{rel}", st))
                    budget_hit = budget_hit or walk.timed_out
                    unreadable = unreadable or walk.unreadable
                    if budget_hit:
                        break
            matches.sort(key=lambda m: m["path"])
            why: Literal["budget", "unreadable"] | None = "budget" if budget_hit else "unreadable" if unreadable else None
            return GlobResult(matches=matches, truncated=why is not None, truncation_reason=why)
        except (FileNotFoundError, NotADirectoryError):
            return GlobResult(matches=[])
        except Exception as exc:
            return GlobResult(error=message("Error globbing", path, exc), matches=None)

    def grep(self, pattern: str, path: str | None = None, glob: str | None = None, *, max_count: int | None = None) -> GrepResult:
        """Literal, case-sensitive, per-line search; skips `.git`, binaries and files > 10 MiB."""
        try:
            include = compile_grep_include_glob(glob) if glob else None
        except InvalidGlobPatternError as exc:
            return GrepResult(error=str(exc), matches=[])
        if not isinstance(pattern, str):
            return GrepResult(error=f"Grep pattern must be a string, got {type(pattern).__name__}", matches=[])
        search = GrepSearch(pattern, include, max_count, time.monotonic() + GREP_TIME_BUDGET, max_file_bytes=MAX_GREP_FILE_BYTES)
        try:
            vp = self._parse(path or "/workspace")
            with self._session(vp.root) as s:
                truncated = self._grep_tree(s, vp, search)
            return GrepResult(matches=search.matches, truncated=truncated)
        except (FileNotFoundError, NotADirectoryError):
            return GrepResult(matches=[])
        except Exception as exc:
            return GrepResult(error=message("Error searching", path, exc), matches=search.matches)

    def _grep_tree(self, s: WalkSession, vp: VPath, search: GrepSearch) -> bool:
        """Fill `search.matches`; return True when stopped early (cap or time budget)."""
        bases, single = self._search_targets(s, vp)
        if single is not None and single.fd is not None:
            if search.include is not None and not search.include(single.name or ""):
                return False
            fd = reopen_regular(single.fd, os.O_RDONLY)
            try:
                return search.scan(fd, vp.text)
            finally:
                os.close(fd)
        for vprefix, gprefix, base_fd in bases:
            walk = TreeWalk(base_fd, search.deadline, prune=frozenset({".git"}))
            with contextlib.closing(walk.files()) as files:
                for dir_fd, name, rel, st in files:
                    if st.st_size > MAX_GREP_FILE_BYTES or (search.include is not None and not search.include(gprefix + rel)):
                        continue
                    try:
                        fd = open_regular_at(dir_fd, name, os.O_RDONLY)
                    except (OSError, PathError):
                        continue
                    try:
                        if search.scan(fd, f"{vprefix}/{rel}"):
                            return True
                    finally:
                        os.close(fd)
            if walk.timed_out:
                return True
        return False
