#!/usr/bin/env python3
"""Print a per-column profile of a CSV/TSV file (standard library only).

Usage: python3 profile_csv.py FILE [--delimiter D] [--max-rows N] [--top K]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BOOLS = {"true", "false", "yes", "no"}
_TYPES = ("empty", "bool", "int", "float", "date", "text")
_DISTINCT_CAP = 10_000
"""Stop counting distinct values beyond this, so memory stays bounded."""


def cell_type(value: str) -> str:
    """The narrowest type name that fits one non-empty cell."""
    lowered = value.lower()
    if lowered in _BOOLS:
        return "bool"
    try:
        int(value)
    except ValueError:
        pass
    else:
        return "int"
    try:
        float(value)
    except ValueError:
        pass
    else:
        return "float"
    return "date" if _DATE.match(value) else "text"


def merge(current: str, new: str) -> str:
    """Widen a column's type so that it also fits `new`."""
    if current in ("empty", new):
        return new
    if {current, new} == {"int", "float"}:
        return "float"
    return "text"


class Column:
    """Running statistics of one column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.type = "empty"
        self.empty = 0
        self.values: Counter[str] = Counter()
        self.capped = False
        self.low: float | None = None
        self.high: float | None = None

    def add(self, value: str) -> None:
        """Count one cell of this column."""
        value = value.strip()
        if not value:
            self.empty += 1
            return
        kind = cell_type(value)
        self.type = merge(self.type, kind)
        if kind in ("int", "float"):
            number = float(value)
            self.low = number if self.low is None else min(self.low, number)
            self.high = number if self.high is None else max(self.high, number)
        if value in self.values or len(self.values) < _DISTINCT_CAP:
            self.values[value] += 1
        else:
            self.capped = True

    def report(self, top: int) -> str:
        """Two lines for the report: the statistics, then the `top` most common values."""
        distinct = f"{len(self.values)}{'+' if self.capped else ''}"
        line = f"- {self.name!r}: type={self.type} empty={self.empty} distinct={distinct}"
        if self.type in ("int", "float") and self.low is not None:
            line += f" min={self.low:g} max={self.high:g}"
        common = ", ".join(f"{v!r} x{n}" for v, n in self.values.most_common(top))
        return f"{line}\n    most common: {common or '-'}"


def profile(path: str, delimiter: str | None, max_rows: int | None, top: int) -> str:
    """Read `path` once and return the report text."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:  # ragged or tiny samples: go by the header line
                header_line = sample.splitlines()[0] if sample else ""
                delimiter = max(",;\t|", key=header_line.count)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return f"{path}: empty file"
        columns = [Column(name or f"column {i + 1}") for i, name in enumerate(header)]
        rows = ragged = 0
        stopped = False
        for row in reader:
            if max_rows is not None and rows >= max_rows:
                stopped = True
                break
            rows += 1
            if len(row) != len(columns):
                ragged += 1
            for column, value in zip(columns, row, strict=False):
                column.add(value)
    lines = [f"{path}: {rows} rows, {len(columns)} columns, delimiter {delimiter!r}"]
    if stopped:
        lines.append(f"(stopped after --max-rows {max_rows})")
    if ragged:
        lines.append(f"warning: {ragged} rows do not have {len(columns)} cells")
    lines.extend(column.report(top) for column in columns)
    return "\n".join(lines)


def main() -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--delimiter", default=None, help="field separator (default: sniffed)")
    parser.add_argument("--max-rows", type=int, default=None, help="stop after this many data rows")
    parser.add_argument("--top", type=int, default=3, help="most common values shown per column")
    args = parser.parse_args()
    csv.field_size_limit(16 * 1024 * 1024)
    try:
        print(profile(args.file, args.delimiter, args.max_rows, args.top))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"profile_csv: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
