"""What an operator sees of the live sandboxes: each running container's owner, thread, age, CPU and memory.

Read from Docker itself (labels for owner, thread and mode; `stats` for CPU and
memory), so it covers every server process sharing this workspaces folder, not
just this one. One stats call waits for Docker's next sample (about a second),
so containers are asked in parallel, and at most `MAX_LISTED` of them.
`stop_live_sandbox` stops one of this scope's containers by id; anything else
(another scope's, or no container at all) is "not found".
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_MODE, label_filter, labels_for
from sandbox.containers.pool_claims import identity

MAX_LISTED = 200
"""Most containers one listing reads stats for (the oldest first would be arbitrary; Docker lists newest first)."""
STATS_WORKERS = 8
CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}\Z")
"""A container id as the admin view names it: Docker's hex id, or a prefix of at least 12 digits."""


@dataclass(frozen=True)
class LiveSandbox:
    """One running sandbox container, as the admin view shows it."""

    container_id: str
    thread_id: str
    user_id: str
    mode: str
    age_seconds: float
    cpu_percent: float | None
    """Share of one CPU over Docker's last sample interval (100 = one full core); None when Docker gave no sample."""
    memory_bytes: int | None
    memory_limit_bytes: int | None

    def as_json(self) -> dict[str, Any]:
        """The JSON the admin route returns."""
        return asdict(self)


def cpu_percent(stats: dict[str, Any]) -> float | None:
    """CPU use between Docker's two samples, as a percentage of one core (Docker's own `docker stats` formula)."""
    try:
        cpu, pre = stats["cpu_stats"], stats["precpu_stats"]
        used = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
        cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    except (KeyError, TypeError):
        return None
    if system <= 0 or used < 0:
        return 0.0
    return round(float(used) / float(system) * int(cpus) * 100.0, 2)


def memory_bytes(stats: dict[str, Any]) -> tuple[int | None, int | None]:
    """Memory in use (without the page cache, as `docker stats` shows it) and the limit."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None, memory.get("limit")
    cache = (memory.get("stats") or {}).get("inactive_file", 0)
    return max(int(usage) - int(cache), 0), memory.get("limit")


def _stats(api: Any, container_id: str) -> dict[str, Any]:
    try:
        return dict(api.stats(container_id, stream=False))
    except (NotFound, APIError, ValueError):
        # It stopped meanwhile: Docker answers 404, or an empty body that is no JSON. Listed without numbers.
        return {}


def _running(api: Any, settings: SandboxSettings) -> list[dict[str, Any]]:
    return list(api.containers(filters=label_filter(labels_for(settings))))[:MAX_LISTED]


def live_sandboxes(api: Any, settings: SandboxSettings, now: float | None = None) -> list[LiveSandbox]:
    """Every running container of this workspaces scope (any process's), oldest first (blocking, about a second)."""
    items = _running(api, settings)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(STATS_WORKERS, len(items)), thread_name_prefix="sandbox-stats") as pool:
        samples = list(pool.map(lambda item: _stats(api, item["Id"]), items))
    moment = time.time() if now is None else now
    listed = []
    for item, stats in zip(items, samples, strict=True):
        labels = item.get("Labels") or {}
        thread_id, user_id = identity(settings, labels)  # a pooled container's are in its claim
        used, limit = memory_bytes(stats)
        listed.append(
            LiveSandbox(
                container_id=str(item["Id"])[:12],
                thread_id=thread_id,
                user_id=user_id,
                mode=labels.get(LABEL_MODE, ""),
                age_seconds=round(max(moment - float(item.get("Created") or moment), 0.0), 1),
                cpu_percent=cpu_percent(stats) if stats else None,
                memory_bytes=used,
                memory_limit_bytes=limit,
            )
        )
    return sorted(listed, key=lambda box: -box.age_seconds)


def find_sandbox(api: Any, settings: SandboxSettings, container_id: str) -> dict[str, Any] | None:
    """The container of this scope (running or not) whose id is or starts with `container_id`; None if there is none."""
    if not CONTAINER_ID.match(container_id):
        return None
    found = api.containers(all=True, filters={**label_filter(labels_for(settings)), "id": [container_id]})
    matches = [item for item in found if str(item["Id"]).startswith(container_id)]
    return matches[0] if len(matches) == 1 else None


def stop_live_sandbox(api: Any, settings: SandboxSettings, container_id: str) -> dict[str, str] | None:
    """Stop one of this scope's containers now (a running command in it is killed); its labels, or None if not found.

    A session container starts again on its thread's next command; an ephemeral
    one is removed by the command that ran it, which reports it as killed.
    """
    item = find_sandbox(api, settings, container_id)
    if item is None:
        return None
    try:
        api.stop(item["Id"], timeout=1)
    except NotFound:
        return None
    thread_id, user_id = identity(settings, item.get("Labels") or {})
    return {"container_id": str(item["Id"])[:12], "thread_id": thread_id, "user_id": user_id}
