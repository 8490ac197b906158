"""The data folder of a local PostgreSQL/Redis: who runs them, how they reach it, its secrets.

When run as root, PostgreSQL and Redis run as Debian's `postgres` / `redis` users
(PostgreSQL refuses root). A data folder those users cannot enter (a 0700 parent such
as /root or a temporary folder) is shown to them through a bind mount under
`MOUNT_ROOT` while the deployment runs, rather than opening its parents.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import os
import pwd
import secrets
import subprocess
import time
from pathlib import Path

from serve_children import Cleanups, user_prefix
from serve_log import Refusal, log

MOUNT_ROOT = Path("/run/sandboxed-deep-agent")
"""Where a data folder the service users cannot reach is bind-mounted while serving."""


def is_root() -> bool:
    """Whether this process may switch users, mount and install packages."""
    return os.geteuid() == 0


def service_user(*names: str) -> str:
    """The first of `names` that exists (as root), or the caller's own user (not root)."""
    if not is_root():
        return getpass.getuser()
    for name in names:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    msg = (
        f"none of the users {' '.join(names)} exists to run a local service as "
        "(they come with Debian's packages; PostgreSQL refuses to run as root)"
    )
    raise Refusal(msg)


def give_to(user: str, path: Path) -> None:
    """Make `user` own `path` (as root; otherwise it is ours already)."""
    if is_root():
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def can_enter(user: str, folder: Path) -> bool:
    """Whether `user` can reach `folder` (every parent open to it)."""
    command = [*user_prefix(user), "test", "-x", str(folder)]
    return subprocess.run(command, check=False, stdin=subprocess.DEVNULL).returncode == 0


def running_in(folder: Path, pid_file: Path) -> int | None:
    """The pid in `pid_file` when that process runs with `folder` as its working directory (None otherwise).

    PostgreSQL and Redis both work in their data folder, so a stale pid file whose
    number now belongs to some other process does not count as running.
    """
    try:
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
    except (OSError, IndexError, ValueError):
        return None
    try:
        same = Path(f"/proc/{pid}/cwd").samefile(folder)
    except PermissionError:
        same = Path(f"/proc/{pid}").exists()  # another user's process: trust the pid file
    except OSError:
        return None
    return pid if same else None


def zombie(pid: int) -> bool:
    """Whether process `pid` has exited but not yet been reaped (by its parent, or init for an orphan)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lingering(folder: Path, pid_file: Path) -> list[int]:
    """What is left in `folder` of a service that was killed: its unreaped main process, processes still working there.

    A service killed along with an earlier entry point becomes an orphan; until init
    reaps it, its pid still answers, and PostgreSQL's own start refuses to take over
    from it (and must, while any of its old processes may still use shared memory).
    """
    left: list[int] = []
    with contextlib.suppress(OSError, IndexError, ValueError):
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
        if zombie(pid):
            left.append(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and not zombie(int(entry.name)):
            with contextlib.suppress(OSError):
                if (entry / "cwd").samefile(folder):
                    left.append(int(entry.name))
    return left


def wait_until_ended(name: str, folder: Path, pid_file: Path, timeout: float = 30.0) -> None:
    """Give what is left of a killed `name` in `folder` `timeout` seconds to end; refuse if it does not."""
    deadline = time.monotonic() + timeout
    if left := lingering(folder, pid_file):
        log(f"{name}: waiting for the processes {left} of one that was killed to end")
    while (left := lingering(folder, pid_file)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        msg = f"processes {left} of a {name} that was killed are still there in {folder}: stop them, or wait for init to reap them"
        raise Refusal(msg)


def services_running(data_dir: Path) -> bool:
    """Whether a PostgreSQL or Redis started in `data_dir` still runs."""
    return any(
        running_in(folder, folder / pid_file)
        for folder, pid_file in ((data_dir / "pg" / "data", "postmaster.pid"), (data_dir / "redis", "redis.pid"))
    )


def prepare(data_dir: Path, users: list[str], cleanups: Cleanups) -> Path:
    """Create `data_dir`; return the path the service `users` reach it by (itself, or a bind mount of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    if not is_root():
        return data_dir
    for user in users:
        if can_enter(user, data_dir):
            continue
        mount_point = MOUNT_ROOT / f"aegra-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]}"
        mount_point.mkdir(parents=True, exist_ok=True)
        MOUNT_ROOT.chmod(0o755)
        mount_point.chmod(0o755)
        if subprocess.run(["mountpoint", "-q", str(mount_point)], check=False).returncode != 0:
            if subprocess.run(["mount", "--bind", str(data_dir), str(mount_point)], check=False).returncode != 0:
                msg = (
                    f"the {user} user cannot reach {data_dir} (a parent folder is closed to other users) and it could "
                    f"not be bind-mounted at {mount_point}: pass --data-dir in a folder other users can enter"
                )
                raise Refusal(msg)
        elif services_running(data_dir):
            return mount_point  # another serve.sh uses this folder: its mount stays; starting PostgreSQL will say so
        # Ours now (or left by a deployment that was killed): unmounted when this one stops.
        marker = data_dir / "mounted-at"
        marker.write_text(f"{mount_point}\n", encoding="utf-8")
        cleanups.add(functools.partial(unmount, mount_point, marker))
        log(f"data folder: {data_dir} is closed to the {user} user; bind-mounted at {mount_point} while serving")
        return mount_point
    return data_dir


def unmount(mount_point: Path, marker: Path) -> None:
    """Remove the bind mount `prepare` made, and its marker."""
    subprocess.run(["umount", str(mount_point)], check=True)
    mount_point.rmdir()
    marker.unlink(missing_ok=True)


def secret(data_dir: Path, name: str) -> str:
    """A password kept in `data_dir`/secrets.env (0600), made once and reused."""
    file = data_dir / "secrets.env"
    file.touch()
    file.chmod(0o600)
    for line in file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == name and value:
            return value
    value = secrets.token_hex(24)
    with file.open("a", encoding="utf-8") as out:
        out.write(f"{name}={value}\n")
    return value
