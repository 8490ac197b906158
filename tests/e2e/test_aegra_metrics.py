"""Aegra with two worker processes on one port: every scrape of `/metrics`, whichever worker answers, sees both workers' counts.

Each refused store search is counted by the worker that received it. Requests
on fresh connections land on both workers (the per-process files in the
deployment's `PROMETHEUS_MULTIPROC_DIR` show which counted what); every scrape
must then report the sum, not one worker's share.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support.aegra_server import data_dir
from tests.support.auth_keys import ADMIN_USER
from tests.support.e2e_servers import CONTRACT_USER, AuthServer, auth_server_with
from tests.support.engines import AEGRA
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

REQUESTS = 40
"""Refused requests sent, each on its own connection: enough that both workers receive some."""
SCRAPES = 10
SERIES = "sandbox_requests_refused_total"


@pytest.fixture(scope="module")
def aegra_server(scripted_llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[AuthServer]:
    """Aegra (auth on) with two workers, so the counts seen are this test's."""
    with auth_server_with(AEGRA, scripted_llm, tmp_path_factory, sandbox_image) as server:
        yield server


def _refused(text: str) -> float:
    """The store-search refusals in a `/metrics` text."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == SERIES and sample.labels.get("reason") == "store_search":
                return sample.value
    return 0.0


def _per_process(folder: Path, scratch: Path) -> dict[str, float]:
    """Each worker's own count, read from its counter file alone."""
    counts: dict[str, float] = {}
    for file in sorted(folder.glob("counter_*.db")):
        alone = scratch / file.stem
        alone.mkdir()
        shutil.copy(file, alone / file.name)
        for family in MultiProcessCollector(None, path=str(alone)).collect():  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == SERIES and sample.labels.get("reason") == "store_search":
                    counts[file.stem] = sample.value
    return counts


def test_every_scrape_sees_the_counts_of_both_workers(aegra_server: AuthServer, tmp_path: Path) -> None:
    user = {"Authorization": f"Bearer {aegra_server.keys.token(CONTRACT_USER)}"}
    for _ in range(REQUESTS):
        with httpx.Client(base_url=aegra_server.url, timeout=30) as http:  # a new connection: any worker may take it
            assert http.post("/store/items/search", json={}, headers=user).status_code == 422
    folder = data_dir(aegra_server.paths.server_home) / "metrics"
    counts = _per_process(folder, tmp_path)
    assert sum(counts.values()) == REQUESTS, counts
    assert len([count for count in counts.values() if count > 0]) == 2, f"the requests did not reach both workers: {counts}"
    for headers in [{"Authorization": f"Bearer {aegra_server.keys.metrics_token}"}] * SCRAPES + [
        {"Authorization": f"Bearer {aegra_server.keys.token(ADMIN_USER)}"}
    ]:
        with httpx.Client(base_url=aegra_server.url, timeout=30) as http:
            scrape = http.get("/metrics", headers=headers)
        assert scrape.status_code == 200, scrape.text[:300]
        assert _refused(scrape.text) == REQUESTS, scrape.text[:2000]
