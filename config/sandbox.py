"""Sandbox settings: every `SANDBOX_*` variable, each with a safe default.

Every hardening knob has exactly one setting here, so an operator can see the
whole security posture in `.env.example` and docs/settings.md, which is generated
from these fields and their docstrings (unit tests keep the three in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal, cast

from config.env import (
    PROJECT_ROOT,
    Parser,
    SettingsError,
    at_least,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_path,
    env_raw,
    env_str,
    read_settings,
    setting,
)

UNPRIVILEGED_UID = 65534
"""uid/gid (`nobody`) used inside sandboxes when the server itself runs as root."""

SandboxMode = Literal["ephemeral", "session"]


MIN_DISK_QUOTA = 16 * 1024**2
"""Smallest workspace disk that still holds an ext4 journal and some files."""


def parse_size(name: str, raw: str) -> int:
    """Bytes from `1g`, `512m`, `8192k`, `1073741824`: the forms `docker run --memory` takes."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    text = raw.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text.rstrip("b"), "")
    try:
        return int(float(number) * units.get(unit, 1))
    except ValueError:
        msg = f"{name}={raw!r} is not a size such as 512m or 1g"
        raise SettingsError(msg) from None


def env_memory(name: str, default: int) -> int:
    """A memory limit; Docker refuses less than 6 MiB."""
    raw = env_raw(name)
    if not raw:
        return default
    value = parse_size(name, raw)
    if value < 6 * 1024**2:
        msg = f"{name}={raw!r} is below Docker's 6 MiB minimum"
        raise SettingsError(msg)
    return value


def env_size(minimum: int, *, zero_turns_off: bool = False) -> Parser[int]:
    """A size parser with a lower bound; with `zero_turns_off`, exactly 0 is allowed too."""

    def parse(name: str, default: int) -> int:
        raw = env_raw(name)
        if not raw:
            return default
        value = parse_size(name, raw)
        if value == 0 and zero_turns_off:
            return 0
        if value < minimum:
            hint = " (0 turns it off)" if zero_turns_off else ""
            msg = f"{name}={raw!r} is below the minimum of {minimum // 1024**2} MiB{hint}"
            raise SettingsError(msg)
        return value

    return parse


def _env_disk_total(name: str, default: int | None) -> int | None:
    """`auto` (or unset) means "derive from the disk's free space"; otherwise a size."""
    raw = env_raw(name)
    if not raw or raw.lower() == "auto":
        return default
    return env_size(MIN_DISK_QUOTA)(name, MIN_DISK_QUOTA)


def _env_disk_per_user(name: str, default: int | None) -> int | None:
    """`auto` (or unset) means "derive from the total" (`sandbox.disks.disk_budget.user_budget`); 0 turns it off."""
    raw = env_raw(name)
    if not raw or raw.lower() == "auto":
        return default
    return env_size(MIN_DISK_QUOTA, zero_turns_off=True)(name, MIN_DISK_QUOTA)


def _env_images(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated image references (`name:tag` or `name@sha256:...`), as Docker names them."""
    raw = env_raw(name)
    if not raw:
        return default
    images = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for image in images:
        if any(ch.isspace() for ch in image):
            msg = f"{name}: {image!r} is not an image reference"
            raise SettingsError(msg)
    return images


def _env_patterns(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated path patterns relative to `/workspace` (`node_modules`, `build/*.o`); `..` is refused."""
    raw = env_raw(name)
    if not raw:
        return default
    patterns = tuple(dict.fromkeys(part.strip().strip("/") for part in raw.split(",") if part.strip().strip("/")))
    for pattern in patterns:
        if ".." in pattern.split("/"):
            msg = f"{name}: {pattern!r} may not contain '..'"
            raise SettingsError(msg)
    return patterns


def default_user() -> tuple[int, int]:
    """The host user's ids keep workspace files editable; root gets `nobody` instead."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        return UNPRIVILEGED_UID, UNPRIVILEGED_UID
    return uid, gid


def env_user(name: str) -> tuple[int, int]:
    """`auto` (or unset): `default_user()`; else numeric `uid[:gid]`, never root."""
    raw = env_raw(name)
    if not raw or raw == "auto":
        return default_user()
    uid_text, _, gid_text = raw.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else uid
    except ValueError:
        msg = f"{name}={raw!r} must be 'auto' or numeric 'uid[:gid]'"
        raise SettingsError(msg) from None
    if uid == 0:
        msg = f"{name}={raw!r}: sandboxes never run as root"
        raise SettingsError(msg)
    return uid, gid


def _env_uid(name: str, _default: int) -> int:
    return env_user(name)[0]


def _env_gid(name: str, _default: int) -> int:
    return env_user(name)[1]


def _env_command_threads(name: str, default: int) -> int:
    """`auto` (or unset, or 0): `default`, meaning four users' `SANDBOX_MAX_RUNNING_PER_USER`; else at least 2."""
    raw = env_raw(name)
    if not raw or raw.lower() == "auto" or raw == "0":
        return default
    return env_int(name, default, minimum=2)


def _env_mode(name: str, default: SandboxMode) -> SandboxMode:
    return cast("SandboxMode", env_choice("ephemeral", "session")(name, default))


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox needs to know; build with `SandboxSettings.from_env()`."""

    image: str = setting("SANDBOX_IMAGE", env_str, "python:3.13-slim")
    """Image for sandboxes; it must have `sh`, `timeout`, `head`, and `stdbuf` for live output
    (Debian/Ubuntu images do). Left empty, `scripts/start.sh` chooses one and passes it on."""
    allowed_images: tuple[str, ...] = setting("SANDBOX_ALLOWED_IMAGES", _env_images, ())
    """Images a run (its context's `sandbox_image`) may use besides `SANDBOX_IMAGE`, exactly as named here
    (comma-separated); a run, assistant or cron naming another gets 422. They must already be on the host:
    only `SANDBOX_IMAGE` is ever pulled, so no request makes the Docker engine contact a registry, and no
    other image on the host can be run. An image's ENTRYPOINT is ignored."""
    mode: SandboxMode = setting("SANDBOX_MODE", _env_mode, "ephemeral")
    """`ephemeral`: a fresh container per command. `session`: one warm container per thread."""
    workspaces_dir: Path = setting("SANDBOX_WORKSPACES_DIR", env_path, default_factory=lambda: PROJECT_ROOT / "workspaces")
    """Host directory holding `<thread_id>/` workspaces (each mounted rw at `/workspace`)."""
    shared_dir: Path = setting("SANDBOX_SHARED_DIR", env_path, default_factory=lambda: PROJECT_ROOT / "shared")
    """Host directory mounted read-only at `/shared` in every sandbox."""
    memories_dir: Path = setting("SANDBOX_MEMORIES_DIR", env_path, default_factory=lambda: PROJECT_ROOT / "memories")
    """Host directory holding one folder per user, mounted rw at `/memories` in that user's sandboxes.

    Never inside (or around) the workspaces or shared dir: inside workspaces a thread
    id could name a user's memory folder, inside shared every sandbox could read it."""
    network: bool = setting("SANDBOX_NETWORK", env_bool, False)  # noqa: FBT003
    """Give sandboxes a network (off by default)."""
    memory_bytes: int = setting("SANDBOX_MEMORY", env_memory, 1024**3, shown="1g")
    """Memory limit per container (`512m`, `1g`, bytes); swap is disabled."""
    cpus: float = setting("SANDBOX_CPUS", env_float, 1.0)
    """CPU limit per container."""
    pids_limit: int = setting("SANDBOX_PIDS_LIMIT", at_least(8), 256)
    """Process limit per container (stops fork bombs)."""
    uid: int = setting("SANDBOX_USER", _env_uid, default_factory=lambda: default_user()[0], shown="auto")
    """`uid[:gid]` inside the sandbox; `auto` = the server's uid/gid, or 65534 when the server runs as root.
    Never 0. Another uid than the server's needs a root server, which hands new workspaces to that uid."""
    gid: int = setting("SANDBOX_USER", _env_gid, default_factory=lambda: default_user()[1], shown="auto")
    """gid inside the sandbox (from the same `SANDBOX_USER`)."""
    timeout_seconds: int = setting("SANDBOX_TIMEOUT", at_least(1), 120)
    """Seconds per command when the agent asks for none."""
    max_timeout_seconds: int = setting("SANDBOX_MAX_TIMEOUT", at_least(1), 1800)
    """Ceiling for any requested timeout."""
    max_output_bytes: int = setting("SANDBOX_MAX_OUTPUT_BYTES", at_least(1024), 4 * 1024**2)
    """Output returned per command; more is cut and flagged `truncated`."""
    command_runner: bool = setting("SANDBOX_COMMAND_RUNNER", env_bool, True)  # noqa: FBT003
    """Session mode: run commands through a small runner process inside each container, over a unix socket
    in a host folder, instead of a `docker exec` each (a few ms instead of ~60). The runner is root in the
    container with only CAP_SETUID/CAP_SETGID, to start commands as the sandbox user; commands cannot reach,
    signal or trace it. If it is gone or stuck, that command goes through `docker exec` and the runner is
    started again. The image needs `python3`; without it every command uses `docker exec`."""
    idle_ttl_seconds: int = setting("SANDBOX_IDLE_TTL", at_least(1), 900)
    """Session mode: stop a thread's container after this many idle seconds."""
    max_containers: int = setting("SANDBOX_MAX_CONTAINERS", at_least(1), 32)
    """Session mode: most running containers; least recently used idle ones are stopped first. A soft cap: the stops
    run in the background, and with `SANDBOX_POOL_SIZE` a new thread that takes a pooled container leaves its stop
    to the pool's refill (after a burst), so at most `SANDBOX_POOL_SIZE` more run meanwhile."""
    retention_seconds: int = setting("SANDBOX_RETENTION", at_least(1), 3 * 24 * 3600)
    """A session container stopped this many seconds ago is removed (3 days); its workspace stays until the thread is deleted."""
    orphan_grace_seconds: int = setting("SANDBOX_ORPHAN_GRACE", at_least(0), 3600)
    """Containers and workspaces of a thread that no longer exists are removed once this many seconds old."""
    reconcile_interval_seconds: int = setting("SANDBOX_RECONCILE_INTERVAL", at_least(1), 600)
    """Seconds between the server's passes over orphaned and expired sandboxes (one runs at startup)."""
    audit_log: Path = setting("SANDBOX_AUDIT_LOG", env_path, default_factory=lambda: PROJECT_ROOT / "logs" / "audit.jsonl")
    """JSON-lines file every executed command and approval decision is appended to (created 0600)."""
    audit_max_bytes: int = setting("SANDBOX_AUDIT_MAX_BYTES", env_size(1024**2), 64 * 1024**2, shown="64m")
    """Size past which the audit log is rotated: it becomes `<file>.1`, older ones shift up (docs/audit.md)."""
    audit_keep: int = setting("SANDBOX_AUDIT_KEEP", at_least(1), 10)
    """How many rotated audit files (`<file>.1` ... `<file>.N`) are kept; the oldest beyond them is deleted."""
    disk_quota_bytes: int = setting("SANDBOX_DISK_QUOTA", env_size(MIN_DISK_QUOTA, zero_turns_off=True), 2 * 1024**3, shown="2g")
    """Most a thread's `/workspace` may hold: each workspace is its own loop-mounted ext4 image
    (needs a root server, loop devices and e2fsprogs; otherwise startup logs that quotas are off). 0 = no quota."""
    disk_total_bytes: int | None = setting("SANDBOX_DISK_TOTAL", _env_disk_total, None, shown="auto")
    """Most all workspace quotas may add up to (`auto`: 90% of the disk's free space plus what
    the images already use); sparse images overcommit, so a new thread past it is refused."""
    disk_per_user_bytes: int | None = setting("SANDBOX_DISK_PER_USER", _env_disk_per_user, None, shown="auto")
    """Most the workspace, artifacts, snapshot and memory quotas of one user's threads may add up to, so one user cannot take
    the whole `SANDBOX_DISK_TOTAL` from the others; a new thread past it is refused. `auto`: a quarter
    of the total when authentication is on (at least four users always fit), the whole total in single-user
    mode (one user has nobody to leave room for). 0 = no per-user budget. The refusal names this setting and what the user holds."""
    memories_quota_bytes: int = setting(
        "SANDBOX_MEMORIES_QUOTA", env_size(MIN_DISK_QUOTA, zero_turns_off=True), MIN_DISK_QUOTA, shown="16m"
    )
    """Most a user's `/memories` may hold, as its own loop-mounted ext4 image like a workspace's
    (only while workspace quotas are on; counts towards `SANDBOX_DISK_TOTAL`). 0 = no quota."""
    artifacts_quota_bytes: int = setting(
        "SANDBOX_ARTIFACTS_QUOTA", env_size(MIN_DISK_QUOTA, zero_turns_off=True), 128 * 1024**2, shown="128m"
    )
    """Most a thread's `/artifacts` (deepagents' own files: evicted large tool results, conversation
    history, captured command output) may hold, as its own loop-mounted ext4 image like a workspace's
    (only while workspace quotas are on; counts towards `SANDBOX_DISK_TOTAL`). 0 = no quota."""
    snapshot_quota_bytes: int = setting(
        "SANDBOX_SNAPSHOT_QUOTA", env_size(MIN_DISK_QUOTA, zero_turns_off=True), 512 * 1024**2, shown="512m"
    )
    """Most a thread's workspace snapshots (the files each checkpoint can restore, stored once per content)
    may hold, as their own loop-mounted ext4 image beside the workspace (only while workspace quotas are on;
    counts towards `SANDBOX_DISK_PER_USER` and `SANDBOX_DISK_TOTAL`). When it is full, a tool result says that
    its checkpoint cannot restore the files. 0 = no quota."""
    snapshot_exclude: tuple[str, ...] = setting("SANDBOX_SNAPSHOT_EXCLUDE", _env_patterns, ())
    """Paths in `/workspace` that snapshots leave out, comma-separated: a pattern without `/` matches a
    file or folder of that name anywhere (`node_modules`, `*.log`), one with `/` the path from `/workspace`
    (`build/cache`). Rewinding never restores, deletes or overwrites them (see docs/checkpoints.md)."""
    snapshot_max_file_bytes: int = setting("SANDBOX_SNAPSHOT_MAX_FILE", env_size(0), 64 * 1024**2, shown="64m")
    """Files larger than this are left out of workspace snapshots: rewinding leaves them as they are."""

    max_running_per_user: int = setting("SANDBOX_MAX_RUNNING_PER_USER", at_least(1), 8)
    """Most commands one user may have running at once, across all their threads; more are refused with a message naming this setting."""
    command_threads: int = setting("SANDBOX_COMMAND_THREADS", _env_command_threads, 0, shown="auto")
    """Threads of the pool that runs sandbox commands (Docker calls that last as long as a command),
    apart from asyncio's default executor, which the server's own requests need. `auto` (0): four
    users' `SANDBOX_MAX_RUNNING_PER_USER`. One user holds at most their cap and never every thread;
    when the pool is full, other users' commands wait for a thread in arrival order."""
    max_containers_per_user: int = setting("SANDBOX_MAX_CONTAINERS_PER_USER", at_least(1), 8)
    """Session mode: most containers one user may have running; their idle ones are stopped first, then new ones refused."""
    pool_size: int = setting("SANDBOX_POOL_SIZE", at_least(0), 0)
    """Session mode: hardened containers of `SANDBOX_IMAGE` each server process keeps started ahead, so a new
    thread's first command takes one (its workspace and memories are mounted into it then) instead of creating
    one. Refilled in the background, removed when the server stops; they count as nobody's until a thread takes
    one. Needs a root server (it mounts folders into them); 0 = no pool."""
    lease_ttl_seconds: int = setting("SANDBOX_LEASE_TTL", at_least(4), 60)
    """Several server processes may share the workspaces folder and the Docker engine: each holds a
    lease (a kernel lock, and a heartbeat file touched every TTL/4 seconds). A process on another host
    whose heartbeat is older than this counts as dead, and its leftover containers are removed."""
    tmpfs_bytes: int = setting("SANDBOX_TMPFS_SIZE", env_size(1024**2), 256 * 1024**2, shown="256m")
    """Size of the in-memory `/tmp` (also `HOME`) of each sandbox; the rest of its root filesystem is read-only."""
    file_transfer_max_bytes: int = setting("SANDBOX_FILE_TRANSFER_MAX", env_size(1024**2), 64 * 1024**2, shown="64m")
    """Largest file the workspace file routes take in one upload or serve in one download; both are
    streamed in pieces (never held whole in memory) and anything larger gets 413, leaving no partial file."""

    max_processes_per_thread: int = setting("SANDBOX_MAX_PROCESSES_PER_THREAD", at_least(1), 4)
    """Most background processes (`start_process`: dev servers, watchers, long test runs) one thread may have running;
    one more is refused with a message naming this setting. They run inside the thread's usual CPU, memory and pids caps."""
    max_processes_per_user: int = setting("SANDBOX_MAX_PROCESSES_PER_USER", at_least(1), 8)
    """Most background processes one user may have running across all their threads; one more is refused likewise."""
    process_idle_ttl_seconds: int = setting("SANDBOX_PROCESS_IDLE_TTL", at_least(1), 900)
    """A background process that printed nothing, got no input and was not looked at (by the agent or the web
    client) for this many seconds is stopped, so a forgotten dev server does not hold its sandbox forever."""
    process_output_bytes: int = setting("SANDBOX_PROCESS_OUTPUT_BYTES", env_size(64 * 1024), 1024**2, shown="1m")
    """Most output kept per background process, in a host file beside the workspaces (never in the workspace):
    past it the oldest output is dropped, and readers are told how many bytes went."""

    @property
    def command_pool_threads(self) -> int:
        """Threads of the command pool: `SANDBOX_COMMAND_THREADS`, or four users' running caps when `auto`."""
        return self.command_threads or 4 * self.max_running_per_user

    @cached_property
    def disk_images_dir(self) -> Path:
        """Where workspace images live: next to `workspaces/`, never inside anything a sandbox mounts."""
        return self.workspaces_dir.with_name(self.workspaces_dir.name + ".disks")

    @cached_property
    def artifacts_dir(self) -> Path:
        """Where each thread's `/artifacts` folder lives: next to `workspaces/`, outside every workspace."""
        return self.workspaces_dir.with_name(self.workspaces_dir.name + ".artifacts")

    @cached_property
    def artifacts_images_dir(self) -> Path:
        """Where `/artifacts` images live: next to `artifacts_dir`, never inside anything a sandbox mounts."""
        return self.artifacts_dir.with_name(self.artifacts_dir.name + ".disks")

    @cached_property
    def snapshots_dir(self) -> Path:
        """Where each thread's workspace snapshots live: next to `workspaces/`, outside every workspace and mount."""
        return self.workspaces_dir.with_name(self.workspaces_dir.name + ".snapshots")

    @cached_property
    def snapshots_images_dir(self) -> Path:
        """Where snapshot store images live: next to `snapshots_dir`, never inside anything a sandbox mounts."""
        return self.snapshots_dir.with_name(self.snapshots_dir.name + ".disks")

    @cached_property
    def memories_images_dir(self) -> Path:
        """Where memory folder images live: next to `memories/`, never inside anything a sandbox mounts."""
        return self.memories_dir.with_name(self.memories_dir.name + ".disks")

    @classmethod
    def from_env(cls) -> SandboxSettings:
        """Read `SANDBOX_*`; raise `SettingsError` naming the first bad variable."""
        return read_settings(cls)

    def __post_init__(self) -> None:
        """Refuse a memories dir that overlaps the workspaces or shared dir (see `memories_dir`)."""
        for name, other in (("SANDBOX_WORKSPACES_DIR", self.workspaces_dir), ("SANDBOX_SHARED_DIR", self.shared_dir)):
            if self.memories_dir.is_relative_to(other) or other.is_relative_to(self.memories_dir):
                msg = f"SANDBOX_MEMORIES_DIR={self.memories_dir} must not be {name}={other}, inside it, or around it"
                raise SettingsError(msg)
        self._check_per_user_budget()

    @property
    def first_thread_disk_bytes(self) -> int:
        """What a user's first thread reserves: its workspace, artifacts and snapshot store images, and the user's memories image."""
        return self.disk_quota_bytes + self.artifacts_quota_bytes + self.snapshot_quota_bytes + self.memories_quota_bytes

    def _check_per_user_budget(self) -> None:
        """A per-user budget below one thread's disks would refuse every user's first thread."""
        smallest = self.first_thread_disk_bytes
        if self.disk_per_user_bytes and self.disk_quota_bytes and self.disk_per_user_bytes < smallest:
            msg = (
                f"SANDBOX_DISK_PER_USER ({self.disk_per_user_bytes // 1024**2} MiB) must hold at least one thread: "
                "SANDBOX_DISK_QUOTA, SANDBOX_ARTIFACTS_QUOTA, SANDBOX_SNAPSHOT_QUOTA and SANDBOX_MEMORIES_QUOTA "
                f"({smallest // 1024**2} MiB)"
            )
            raise SettingsError(msg)

    def image_allowed(self, image: str) -> bool:
        """Whether a run may use `image`: `SANDBOX_IMAGE` or one of `SANDBOX_ALLOWED_IMAGES`, spelled exactly."""
        return image == self.image or image in self.allowed_images

    def effective_timeout(self, requested: int | None) -> int:
        """Seconds a command may run: the default when none is asked, never more than the maximum.

        "No timeout" (zero or less) is not offered to an untrusted caller: it gets the maximum.
        """
        if requested is None:
            return self.timeout_seconds
        if requested <= 0:
            return self.max_timeout_seconds
        return min(int(requested), self.max_timeout_seconds)

    def with_overrides(self, **changes: object) -> SandboxSettings:
        """Copy with some fields changed (tests and benchmarks use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]
