"""Which local processes hold the open TCP connections to a port (read from `/proc`, Linux only).

A server with several processes sharing one listening socket hands each accepted
connection to one of them; tests use this to see that clients really reached
more than one process.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

PROC = Path("/proc")
ESTABLISHED = "01"
"""`st` of an established connection in `/proc/net/tcp`."""


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established connections whose local end is `port` (the server's side)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == ESTABLISHED:
                    inodes.add(fields[9])
    return inodes


def connection_holders(port: int) -> Counter[int]:
    """Process id -> how many established connections to `port` (server side) it holds."""
    inodes = _established_inodes(port)
    holders: Counter[int] = Counter()
    if not inodes:
        return holders
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [str(fd.readlink()) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        held = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if held:
            holders[int(entry.name)] += held
    return holders
