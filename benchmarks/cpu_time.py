"""CPU seconds a served server spends on a load, and Docker with it: what turns cost the machine, not only how long they take.

On a small machine the benchmark's own client and scripted model share the CPUs
with the servers, so throughput at 32 threads follows CPU per turn, however a
server spreads it over processes; CPU seconds also vary much less between runs
than turns per second. Read from `/proc` (user + system time): a server's is its
process and every live descendant, plus the children it waited for (`mount`,
`mkfs.ext4`); Docker's is its daemons' and everything under them, containers
included, so a command's CPU counts on either side whether a shell on the host
or a sandbox ran it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DOCKER_PROCESSES = frozenset({"dockerd", "containerd", "containerd-shim-runc-v2", "containerd-shim", "docker-proxy"})
"""Docker Engine's own processes (Debian's `docker.io`); containers run under the shims."""
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Process:
    parent: int
    name: str
    seconds: float


def _processes() -> dict[int, _Process]:
    """Every process now: its parent, name and CPU seconds (its own and its waited-for children's)."""
    found: dict[int, _Process] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, ... utime (12th), stime, cutime, cstime.
        ticks = sum(int(value) for value in fields[11:15])
        found[int(entry.name)] = _Process(parent=int(fields[1]), name=name, seconds=ticks / _TICKS)
    return found


def _under(processes: dict[int, _Process], roots: set[int]) -> dict[int, float]:
    """CPU seconds of each of `roots` and all their descendants, by pid."""
    children: dict[int, list[int]] = {}
    for pid, process in processes.items():
        children.setdefault(process.parent, []).append(pid)
    found: dict[int, float] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in found or pid not in processes:
            continue
        found[pid] = processes[pid].seconds
        stack.extend(children.get(pid, []))
    return found


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes alive at the second.

    Per process, so one that ended in between (a container stopped, its shim gone)
    takes nothing away; a process that started in between counts whole.
    """
    return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())


@dataclass(frozen=True)
class CpuSpent:
    """CPU seconds one server's process tree and Docker spent."""

    server: float
    docker: float


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds so far of each process of one server's tree and of Docker's."""

    server: dict[int, float]
    docker: dict[int, float]

    @classmethod
    def now(cls, server_pid: int) -> CpuReading:
        """Read both now."""
        processes = _processes()
        docker = {pid for pid, process in processes.items() if process.name in DOCKER_PROCESSES}
        docker -= {pid for pid in docker if processes[pid].parent in docker}  # counted under their parent
        return cls(server=_under(processes, {server_pid}), docker=_under(processes, docker))

    def since(self, earlier: CpuReading) -> CpuSpent:
        """What was spent between `earlier` and this reading."""
        return CpuSpent(server=_spent(earlier.server, self.server), docker=_spent(earlier.docker, self.docker))
