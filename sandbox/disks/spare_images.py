"""Spare disk images: empty ext4 images made ahead, so a new thread's workspace skips `mkfs.ext4`.

Making a workspace's filesystem is most of what a new thread's first command
waits for once its container comes from the warm pool. A spare is an image
already formatted for one size, kept in `<images>/.spare/` (a hidden folder: no
reader of images counts it as a thread's). A new disk of that size takes one by
renaming it onto its own image name, which is atomic, so two processes never
take one spare; without a spare the image is made as before. Budgets are
checked before a disk is made either way, and a spare's sparse file holds only
its journal, a few MiB.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from sandbox.disks.disk_budget import IMAGE_SUFFIX

SPARE_DIR = ".spare"


def spare_dir(images_dir: Path) -> Path:
    """Where spares of `images_dir` wait (next to the images, so a rename moves them in place)."""
    return images_dir / SPARE_DIR


def spares(images_dir: Path, size: int) -> list[Path]:
    """The spares of `size` bytes that are ready to take."""
    folder = spare_dir(images_dir)
    with contextlib.suppress(FileNotFoundError):
        return sorted(p for p in folder.iterdir() if p.name.startswith(f"{size}-") and p.name.endswith(IMAGE_SUFFIX))
    return []


def take_spare(images_dir: Path, size: int, image: Path) -> bool:
    """Move a ready spare of `size` bytes onto `image`; False when there is none."""
    for spare in spares(images_dir, size):
        try:
            os.rename(spare, image)
        except FileNotFoundError:
            continue  # another process took it
        return True
    return False


def new_spare_name(images_dir: Path, size: int) -> tuple[Path, Path]:
    """Where to make a spare (a hidden temporary name) and where it goes once made."""
    folder = spare_dir(images_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{size}-{secrets.token_hex(8)}{IMAGE_SUFFIX}"
    return folder / f".making-{name}", folder / name


def remove_spares(images_dir: Path) -> None:
    """Delete every spare of `images_dir` (a pool drained as its server stops)."""
    with contextlib.suppress(FileNotFoundError):
        for path in spare_dir(images_dir).iterdir():
            path.unlink(missing_ok=True)
