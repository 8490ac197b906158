"""The admin view's CPU and memory numbers, from Docker's stats documents (as `docker stats` computes them)."""

from __future__ import annotations

from sandbox.containers.live_view import CONTAINER_ID, cpu_percent, memory_bytes


def _stats(total: int, pre_total: int, system: int, pre_system: int, cpus: int = 2) -> dict[str, object]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": cpus},
        "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system},
    }


def test_cpu_is_a_share_of_one_core() -> None:
    assert cpu_percent(_stats(1_500, 1_000, 2_000, 1_000, cpus=2)) == 100.0  # half the machine's time on 2 cores
    assert cpu_percent(_stats(1_000, 1_000, 2_000, 1_000)) == 0.0
    assert cpu_percent(_stats(1_000, 1_000, 1_000, 1_000)) == 0.0  # no interval yet
    assert cpu_percent({}) is None
    assert cpu_percent({"cpu_stats": {"cpu_usage": {}}, "precpu_stats": {}}) is None


def test_memory_leaves_out_the_page_cache() -> None:
    stats = {"memory_stats": {"usage": 10_000, "limit": 1 << 30, "stats": {"inactive_file": 4_000}}}
    assert memory_bytes(stats) == (6_000, 1 << 30)
    assert memory_bytes({"memory_stats": {"limit": 5}}) == (None, 5)
    assert memory_bytes({}) == (None, None)


def test_container_ids_are_hex_of_12_to_64_digits() -> None:
    assert CONTAINER_ID.match("0123456789ab")
    assert CONTAINER_ID.match("a" * 64)
    for bad in ("0123456789a", "A123456789ab", "a" * 65, "../../etc", "0123456789ab\n"):
        assert not CONTAINER_ID.match(bad), bad
