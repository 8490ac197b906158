"""An upload written in pieces that replaces its target only when complete.

Streaming a large upload straight into the target would leave half a file behind
when the client stops, the size limit is hit or the disk quota fills. So the bytes
go to a hidden sibling (`.upload-<random>.part`, created `O_EXCL|O_NOFOLLOW` in the
target's directory, which is pinned by an fd), and only `commit` renames it over
the target; `abort` removes it. A rename within one directory fd neither follows
a symlink nor leaves that directory, so a sandbox that swaps paths meanwhile at
worst replaces its own symlink.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field

from sandbox.files.fd_walk import write_all


def staging_name() -> str:
    """A fresh hidden name for the bytes in flight."""
    return f".upload-{secrets.token_hex(8)}.part"


@dataclass
class StagedUpload:
    """One upload in flight: `write` pieces, then `commit` (or `abort`); the fds are this object's."""

    fd: int
    """The staging file, open for writing."""
    dir_fd: int
    """The target's directory."""
    staging: str
    name: str
    """The target's name in `dir_fd`."""
    size: int = field(default=0)
    _done: bool = field(default=False)

    def write(self, data: bytes) -> None:
        """Append `data` to the staging file."""
        write_all(self.fd, data)
        self.size += len(data)

    def commit(self) -> None:
        """Make the staged bytes the target's whole content, in one rename."""
        try:
            os.fsync(self.fd)
            os.rename(self.staging, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            self.abort()
            raise
        self._close()

    def abort(self) -> None:
        """Remove the staging file; the target is as it was."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.staging, dir_fd=self.dir_fd)
        self._close()

    def _close(self) -> None:
        if not self._done:
            self._done = True
            os.close(self.fd)
            os.close(self.dir_fd)
