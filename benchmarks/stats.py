"""Timing, summaries and the result table shared by every benchmark section.

The machine is small and noisy, so absolute numbers mean little from one run to
the next. Every comparison is therefore measured *interleaved* (ours and its
floor alternate inside one loop, in rotating order, so drift and background
load hit both alike) and reported as medians and ratios of medians.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Samples = dict[str, list[float]]
"""Seconds per call, by variant name."""


def median(values: Sequence[float]) -> float:
    """The median (NaN for no samples, so an empty section shows up, not crashes)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: with few samples it is an observed value, not an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def rotations(names: list[str], iteration: int) -> list[str]:
    """Start each round with a different variant, so none always runs first (or after the slowest)."""
    shift = iteration % len(names)
    return names[shift:] + names[:shift]


def interleaved(variants: Mapping[str, Callable[[], object]], *, iterations: int, warmup: int) -> Samples:
    """Time each variant `iterations` times, alternating between variants every round."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    samples: Samples = {name: [] for name in names}
    for iteration in range(iterations):
        for name in rotations(names, iteration):
            started = time.perf_counter()
            variants[name]()
            samples[name].append(time.perf_counter() - started)
    return samples


async def ainterleaved(variants: Mapping[str, Callable[[], Awaitable[object]]], *, iterations: int, warmup: int) -> Samples:
    """`interleaved` for coroutines (agent turns through the server)."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            await variants[name]()
    samples: Samples = {name: [] for name in names}
    for iteration in range(iterations):
        for name in rotations(names, iteration):
            started = time.perf_counter()
            await variants[name]()
            samples[name].append(time.perf_counter() - started)
    return samples


# --------------------------------------------------------------------------- #
# Result rows
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Target:
    """A bound on a row's value: `value <= limit` (`at_most`) or `value >= limit` (`at_least`)."""

    limit: float
    kind: Literal["at_most", "at_least"] = "at_most"

    def met(self, value: float) -> bool:
        """Whether `value` satisfies the target (NaN never does)."""
        if math.isnan(value):
            return False
        return value <= self.limit if self.kind == "at_most" else value >= self.limit

    def __str__(self) -> str:
        sign = "≤" if self.kind == "at_most" else "≥"
        return f"{sign} {self.limit:g}"


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    section: str
    measure: str
    ours: str
    floor: str
    value: float
    """The number checked against the target (a ratio or a count)."""
    value_text: str
    target: Target | None

    @property
    def verdict(self) -> str:
        """`pass`, `MISS`, or `info` for rows without a target."""
        if self.target is None:
            return "info"
        return "pass" if self.target.met(self.value) else "MISS"


@dataclass
class SectionResult:
    """What one section contributes: table rows plus detail lines printed under the table."""

    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def format_seconds(seconds: float, unit: Literal["ms", "s"]) -> str:
    """Seconds as `12.3 ms` or `1.23 s`."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.2f} ms" if unit == "ms" else f"{seconds:.2f} s"


def ratio_row(
    section: str,
    measure: str,
    ours: Sequence[float],
    floor: Sequence[float],
    *,
    unit: Literal["ms", "s"],
    target: Target | None,
) -> Row:
    """A row comparing the medians of `ours` and `floor` (ratio = ours / floor; lower is better)."""
    ours_median, floor_median = median(ours), median(floor)
    ratio = ours_median / floor_median if floor_median else math.nan
    return Row(
        section=section,
        measure=measure,
        ours=format_seconds(ours_median, unit),
        floor=format_seconds(floor_median, unit),
        value=ratio,
        value_text=f"{ratio:.2f}x",
        target=target,
    )


def quotient_row(section: str, measure: str, ours: str, floor: str, *, quotient: float, target: Target | None) -> Row:
    """A row for a ratio the caller worked out (rates, totals per turn), with both sides as they read."""
    return Row(section=section, measure=measure, ours=ours, floor=floor, value=quotient, value_text=f"{quotient:.2f}x", target=target)


def count_row(section: str, measure: str, count: int, *, target: Target | None) -> Row:
    """A row for a count (errors, leaks) whose target is an absolute bound."""
    return Row(section=section, measure=measure, ours=str(count), floor="—", value=float(count), value_text=str(count), target=target)


def render_table(rows: Sequence[Row]) -> str:
    """The one markdown table the benchmark prints."""
    lines = [
        "| # | measure | ours (median) | floor (median) | ratio / value | target | result |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    lines.extend(
        f"| {row.section} | {row.measure} | {row.ours} | {row.floor} | {row.value_text} | {row.target or '—'} | {row.verdict} |"
        for row in rows
    )
    return "\n".join(lines)
