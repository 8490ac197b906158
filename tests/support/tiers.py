"""The test tiers: which tier a test is in, and the one `-m` expression that runs them all.

`tests/conftest.py` marks every collected test with `tier_of(...)`; the unit test
`tests/unit/test_test_layout.py` checks that the README's and CI's test command selects
every tier, so a new tier cannot be left out of CI.
"""

from __future__ import annotations

TIERS = ("unit", "sandbox", "e2e", "browser")
"""Every test's tier, cheapest first; each is one command, `uv run pytest -m <tier>`."""
TIER_FOLDERS = {"sandbox": "sandbox", "e2e": "e2e", "browser": "browser"}
"""Test folders whose every test is of one tier; `tests/unit/` and `tests/support/` go by their markers."""
ALL_TIERS = " or ".join(TIERS)
"""The `-m` expression that runs every tier: what the README's test command and `.ci/run` pass."""


def tier_of(relative_path: str, markers: set[str]) -> str:
    """A test's tier from its path under `tests/` and its own markers.

    The tier folders decide for their tests; elsewhere (`tests/unit/`, the harness's own
    checks in `tests/support/`) a test that starts a server is `e2e`, one that needs
    Docker is `sandbox`, and the rest is `unit`.
    """
    folder = relative_path.split("/", 1)[0]
    if folder in TIER_FOLDERS:
        return TIER_FOLDERS[folder]
    if "e2e" in markers:
        return "e2e"
    if "docker" in markers:
        return "sandbox"
    return "unit"
