"""Loop mounts and unmounts through system calls (real ext4 images, real loop devices; the server and these tests run as root).

What `mount -o loop` gave the workspaces must still hold: the mount options that
keep set-uid files and device nodes inert, one device per image however many
mount at once, and no loop device left behind by an unmount or a failed mount.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox.disks.mount_calls import MS_NOATIME, MS_NODEV, MS_NOSUID, loop_mount, unmount
from tests.support.workspaces import mounts_under

FLAGS = MS_NOSUID | MS_NODEV | MS_NOATIME


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("SANDBOX_REQUIRE_DOCKER", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail("loop mounts need root")
        pytest.skip("loop mounts need root")


def _image(folder: Path, name: str) -> Path:
    image = folder / f"{name}.img"
    with open(image, "xb") as handle:
        handle.truncate(16 * 1024**2)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
    return image


def _loop_devices_of(image: Path) -> str:
    return subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=True).stdout.strip()


def _mount_entry(point: Path) -> tuple[str, set[str]]:
    """(filesystem type, mount options) of `point` in /proc/self/mountinfo."""
    for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields[4] == str(point):
            after = fields.index("-")
            return fields[after + 1], set(fields[5].split(","))
    raise AssertionError(f"{point} is not mounted")


def test_an_image_mounts_as_ext4_with_setuid_devices_and_atime_off(tmp_path: Path) -> None:
    image, point = _image(tmp_path, "a"), tmp_path / "a"
    point.mkdir()
    loop_mount(image, point, FLAGS)
    try:
        kind, options = _mount_entry(point)
        assert kind == "ext4"
        assert {"nosuid", "nodev", "noatime", "rw"} <= options
        (point / "file").write_text("kept", encoding="utf-8")
        assert str(image) in _loop_devices_of(image)
    finally:
        unmount(point)
    assert not (point / "file").exists()
    assert _loop_devices_of(image) == "", "unmounting detaches the image's loop device"
    loop_mount(image, point, FLAGS)
    try:
        assert (point / "file").read_text(encoding="utf-8") == "kept"
    finally:
        unmount(point)


def test_images_mounted_at_once_each_get_their_own_device(tmp_path: Path) -> None:
    images = [_image(tmp_path, f"i{n}") for n in range(8)]
    points = [tmp_path / f"p{n}" for n in range(8)]
    for point in points:
        point.mkdir()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: loop_mount(pair[0], pair[1], FLAGS), zip(images, points, strict=True)))
    try:
        for n, point in enumerate(points):
            (point / "mine").write_text(str(n), encoding="utf-8")
        for n, point in enumerate(points):
            assert (point / "mine").read_text(encoding="utf-8") == str(n)
            assert os.stat(point).st_dev != os.stat(points[n - 1]).st_dev
    finally:
        for point in points:
            unmount(point)
    assert mounts_under(tmp_path) == []
    assert [_loop_devices_of(image) for image in images] == [""] * 8


def test_a_file_without_a_filesystem_fails_to_mount_and_leaves_no_device(tmp_path: Path) -> None:
    image, point = tmp_path / "blank.img", tmp_path / "blank"
    image.write_bytes(bytes(1024**2))
    point.mkdir()
    with pytest.raises(OSError, match="mount"):
        loop_mount(image, point, FLAGS)
    assert mounts_under(tmp_path) == []
    assert _loop_devices_of(image) == ""


def test_a_busy_mount_refuses_a_plain_unmount_and_detaches_lazily(tmp_path: Path) -> None:
    image, point = _image(tmp_path, "busy"), tmp_path / "busy"
    point.mkdir()
    loop_mount(image, point, FLAGS)
    held = os.open(point / "held", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="umount"):
            unmount(point)
        unmount(point, lazy=True)
        assert mounts_under(tmp_path) == []
    finally:
        os.close(held)
    assert _loop_devices_of(image) == "", "the device goes once the last holder closes"
