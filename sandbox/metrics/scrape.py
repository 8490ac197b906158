"""What a scrape of `/metrics` reads: the `sandbox_` counters of every process, and the state of the sandboxes now.

Events are counted where they happen (`sandbox.metrics.events`); states are read here,
when Prometheus asks, from the sources of truth the rest of the code uses:
Docker's labels for containers, the disk images' metadata for disk use. Both are
blocking calls, so the server runs `scrape_families` on a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_MODE, label_filter, labels_for
from sandbox.coordination.process_state import sandbox_process
from sandbox.disks.disk_budget import disk_total, disk_use_by_user, user_budget
from sandbox.metrics.events import CONTAINER_STATES, MODES, PREFIX, bounded

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's switch to multiprocess mode (read when prometheus-client is first imported)."""


def event_families() -> list[Metric]:
    """The counters and histograms: this process's, or (multiprocess mode) every process's, `sandbox_` ones only.

    In multiprocess mode the folder also holds other libraries' metrics of the
    same processes; the server serves those itself, so they are left out here.
    """
    # Built on first use: its zero series (files, in multiprocess mode) exist before any event.
    registry = sandbox_process().metrics.registry
    folder = os.environ.get(MULTIPROC_ENV)
    families: Iterable[Metric] = (
        MultiProcessCollector(None, path=folder).collect()  # type: ignore[no-untyped-call]  # untyped upstream
        if folder
        else registry.collect()
    )
    return [family for family in families if family.name.startswith(PREFIX)]


def container_family(api: Any, settings: SandboxSettings) -> GaugeMetricFamily:
    """`sandbox_containers{mode,state}`: this deployment's containers as Docker's labels show them now."""
    found = api.containers(all=True, filters=label_filter(labels_for(settings)))
    counts = Tally(
        (bounded((item.get("Labels") or {}).get(LABEL_MODE), MODES), bounded(item.get("State"), CONTAINER_STATES)) for item in found
    )
    for mode in MODES:
        counts.setdefault((mode, "running"), 0)
    family = GaugeMetricFamily(
        "sandbox_containers", "Sandbox containers of this deployment, by mode and Docker state.", labels=["mode", "state"]
    )
    for (mode, state), count in sorted(counts.items()):
        family.add_metric([mode, state], count)
    return family


def disk_families(settings: SandboxSettings) -> list[GaugeMetricFamily]:
    """Each user's disk images, used and reserved, beside the per-user budget and the total (file metadata only)."""
    used = GaugeMetricFamily("sandbox_disk_used_bytes", "Bytes a user's disk images occupy on the host (sparse).", labels=["user"])
    reserved = GaugeMetricFamily(
        "sandbox_disk_reserved_bytes", "Sum of a user's disk image sizes: what counts towards the budget.", labels=["user"]
    )
    for user, use in sorted(disk_use_by_user(settings).items()):
        used.add_metric([user], use.used)
        reserved.add_metric([user], use.reserved)
    families = [used, reserved]
    budget = user_budget(settings)
    if budget is not None:
        families.append(GaugeMetricFamily("sandbox_disk_user_budget_bytes", "Most one user's disk images may add up to.", value=budget))
    families.append(
        GaugeMetricFamily("sandbox_disk_total_bytes", "Most all disk images together may add up to.", value=disk_total(settings))
    )
    return families


def pending_family(pending: int) -> GaugeMetricFamily:
    """`sandbox_approvals_pending`: threads paused on a reviewer's decision now."""
    return GaugeMetricFamily("sandbox_approvals_pending", "Threads waiting for a reviewer's decision.", value=pending)


def scrape_families(docker_api: Callable[[], Any], settings: SandboxSettings) -> list[Metric]:
    """Containers and disk use now (blocking: Docker and file metadata); a source that fails is logged and left out.

    `docker_api` connects (or returns the connected client): without Docker the scrape still shows the rest.
    """
    families: list[Metric] = []
    try:
        families.append(container_family(docker_api(), settings))
    except Exception:
        logger.warning("Metrics: could not list sandbox containers", exc_info=True)
    try:
        families.extend(disk_families(settings))
    except OSError:
        logger.warning("Metrics: could not read disk use", exc_info=True)
    return families


class _Families:
    """A collector that yields families gathered beforehand."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(families: Iterable[Metric]) -> bytes:
    """Prometheus' text format of `families` (the same format the servers' own `/metrics` use)."""
    return generate_latest(_Families(families))
