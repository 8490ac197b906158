"""The screenshot script keeps working: it runs end to end into a temporary folder."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from scripts.screenshots import DESKTOP, NAMES, PHONE, take_screenshots
from tests.support.browser_flows import chromium_path

pytestmark = [pytest.mark.docker]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_script_writes_every_screenshot(tmp_path: Path, sandbox_image: str) -> None:
    if chromium_path() is None:
        pytest.fail("chromium not installed (apt-get install chromium)")
    written = take_screenshots(tmp_path / "shots", sandbox_image=sandbox_image)
    assert [p.name for p in written] == list(NAMES)
    for path in written:
        expected = PHONE if path.name.startswith("phone") else DESKTOP
        assert png_size(path) == (expected["width"], expected["height"]), path
        assert path.stat().st_size > 10_000, path  # a real picture, not a blank page
