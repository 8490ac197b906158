"""Replacing a small file whole, so a reader in any process sees the old content or the new, never half.

Owner records, the disk budget's sums and a snapshot store's files are read by other
threads and server processes while they are rewritten. Each is written to a
staging name unique to the writing thread (root-only, never following a link
planted there) and renamed over the file, which is atomic on one filesystem.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def replace_atomically(path: Path, data: bytes) -> None:
    """Make `path` hold exactly `data` (mode 0600), replacing it in one step."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)
    os.replace(staging, path)
