"""A real Prometheus (Debian's `prometheus` package) scraping a test server, and its HTTP query API.

`run_prometheus()` writes the shipped `deploy/prometheus/prometheus.yml` with its
target, token file and interval (1 s) replaced (so the shipped config is what the
tests run), starts `/usr/bin/prometheus` on a free 127.0.0.1 port with its storage in a temp
folder, waits until it is ready, and stops it at the end.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; stubs are not a dependency

from tests.support.langgraph_server import REPO_ROOT, free_port

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
SHIPPED_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
JOB = "deepagents"
"""The job name of the shipped config."""


@dataclass
class Prometheus:
    """A running Prometheus: its base URL and its log."""

    url: str
    log_path: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) `expr` evaluates to now."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        data = response.json()["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        """The single value of `expr` now, or None when it has no sample."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, accept: Callable[[float], bool], *, timeout: float = 60) -> float:
        """Poll until `expr` has a value `accept` takes (scrapes come every second); that value."""
        deadline = time.monotonic() + timeout
        last: float | None = None
        while time.monotonic() < deadline:
            last = self.value(expr)
            if last is not None and accept(last):
                return last
            time.sleep(0.5)
        log = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        msg = f"Prometheus: {expr} stayed at {last} for {timeout}s\n{log}"
        raise AssertionError(msg)


def scrape_config(target_url: str, token_file: Path, interval: str = "1s") -> str:
    """The shipped `deploy/prometheus/prometheus.yml`, scraping `target_url` every `interval` with the token in `token_file`."""
    config = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    parts = urlsplit(target_url)
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    [job] = config["scrape_configs"]
    job["scheme"] = parts.scheme
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [parts.netloc]}]
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


@contextlib.contextmanager
def run_prometheus(target_url: str, token: str, folder: Path) -> Iterator[Prometheus]:
    """Prometheus scraping `target_url` with `token`, until the `with` block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "metrics-token"
    token_file.write_text(token, encoding="utf-8")
    token_file.chmod(0o600)
    config = folder / "prometheus.yml"
    config.write_text(scrape_config(target_url, token_file), encoding="utf-8")
    port = free_port()
    log_path = folder / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(PROMETHEUS_BINARY),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        prometheus = Prometheus(url=f"http://127.0.0.1:{port}", log_path=log_path)
        _wait_ready(prometheus, process)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(prometheus: Prometheus, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"prometheus exited with {process.returncode}: {prometheus.log_path.read_text(errors='replace')[-3000:]}"
            raise RuntimeError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    msg = f"prometheus was not ready within {timeout}s"
    raise RuntimeError(msg)
