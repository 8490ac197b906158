"""The session start lock, and the listing one holder in a process passes on to the next.

Counting running session containers for the caps and starting one is one step
under a lock every server process takes (`docs/locks.md`). Its holder decides from
a Docker listing of every running session container of the scope: some hundred
items to fetch and parse, a few milliseconds of the server's CPU and tens of
milliseconds under load, while every other new thread's first command waits. In a
burst of new threads they take the lock one after another, and each used to list
again what the previous holder had just listed, plus the one container it started.

So a holder passes its listing, with what it started, to the next holder in the
same process, who decides from it without asking Docker when it is still true:

- containers start only under this lock, and every holder writes a fresh token
  beside the lock file as soon as it has it; a passed listing is used only when
  the token is still the one written by the holder that passed it on, so a
  container started by another process in between (even one that died right
  after) always means a new listing;
- a container stopped meanwhile (the idle reaper, another process's cap) is still
  in it: it counts one container too many, which is the safe way round; a passed
  listing is used for at most `LISTING_REUSE_SECONDS`, and the caller lists again
  before anything a count too high would decide wrongly (`SessionListing.decides_alone`).

Each thread also has its own start lock, taken first by every first command of the
thread (in any process): a pooled container is claimed under the shared lock, and
its folders are bound after it, under the thread's alone. So a burst of new threads
waits for one another's claims only, while a second first command of the same
thread (parallel tool calls, another process) waits until the folders are in, and
is never handed a container whose `/workspace` is still the empty slot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.containers.session_listing import SessionListing
from sandbox.coordination.locks import digest, exclusive_file_lock, lock_subdir, unlink_unheld
from sandbox.coordination.process_state import sandbox_process

LISTING_REUSE_SECONDS = 5.0
"""How long after Docker listed them the running containers are trusted for a start without listing again.

Only stops happen outside the lock, so an older listing only counts containers that
stopped since; this bounds for how long (a burst of first commands passes on one
listing for a second or two)."""


@dataclass(frozen=True)
class ListedAt:
    """A listing of running session containers and when Docker gave it (`time.monotonic`)."""

    listing: SessionListing
    at: float

    @classmethod
    def now(cls, listing: SessionListing) -> ListedAt:
        """A listing Docker just gave."""
        return cls(listing, time.monotonic())

    def fresh(self) -> bool:
        """Whether it is young enough to decide a start from (`LISTING_REUSE_SECONDS`)."""
        return time.monotonic() - self.at < LISTING_REUSE_SECONDS


class StartTurn:
    """One hold of the start lock: the listing passed on to it, if any, and the one it passes on."""

    def __init__(self, passed: ListedAt | None) -> None:
        self.passed = passed
        """The previous holder's listing (still true but for stops), or None: list again."""
        self.passing: ListedAt | None = None

    def running(self, usable: Callable[[SessionListing], bool], list_now: Callable[[], SessionListing]) -> ListedAt:
        """The listing passed on when `usable` says it may decide this start, else a new one from `list_now` (Docker)."""
        if self.passed is not None and usable(self.passed.listing):
            return self.passed
        return ListedAt.now(list_now())

    def pass_on(self, listed: ListedAt) -> None:
        """Give the next holder in this process `listed`: every running container, this hold's start included."""
        self.passing = listed


class StartLock:
    """The session start lock of one engine, as one process takes it (one per `SessionContainers`)."""

    def __init__(self) -> None:
        self._passed: dict[Path, tuple[str, ListedAt]] = {}
        """Lock file -> (the token its holder wrote, the listing it passed on), of its last holder in this process
        that passed one on; read and written only under that lock."""

    @contextlib.contextmanager
    def held(self, path: Path) -> Iterator[StartTurn]:
        """Hold the lock at `path` for the `with` block; the turn says whether the last holder's listing may be used."""
        with exclusive_file_lock(path):
            passed = self._passed.pop(path, None)
            mark = path.with_name(path.name + ".holder")
            previous = _read_token(mark)
            token = secrets.token_hex(16)
            _write_token(mark, token)  # before anything starts: a holder that dies after a start has changed it already
            written_with, listed = passed if passed is not None else (None, None)
            turn = StartTurn(listed if listed is not None and written_with == previous and listed.fresh() else None)
            yield turn
            if turn.passing is not None:
                self._passed[path] = (token, turn.passing)


def thread_start_lock(settings: SandboxSettings, thread_id: str) -> contextlib.AbstractContextManager[None]:
    """The thread's own start lock (module docstring): held from a first command's look for its container until it is ready."""
    return exclusive_file_lock(_thread_lock_path(settings, thread_id))


def remove_thread_start_lock(settings: SandboxSettings, thread_id: str) -> None:
    """Delete a removed thread's lock file, unless a first command holds it now (it is made again when needed).

    One this process holds is left alone too: on NFS a second fd on it would drop the hold.
    """
    path = _thread_lock_path(settings, thread_id)
    if path not in sandbox_process().file_locks:  # nobody here holds or waits for it
        unlink_unheld(path)


def _thread_lock_path(settings: SandboxSettings, thread_id: str) -> Path:
    return lock_subdir(settings, "thread-starts") / f"{digest(thread_id)}.lock"


def _read_token(mark: Path) -> str | None:
    try:
        return mark.read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _write_token(mark: Path, token: str) -> None:
    """Replace the token in place; a write that fails after the truncation leaves a token nobody holds (safe)."""
    fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)
