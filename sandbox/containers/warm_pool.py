"""A warm pool: hardened session containers started ahead, so a new thread's first command skips creation.

Creating and starting a container costs a few hundred milliseconds; a new thread's
first command used to pay it. With `SANDBOX_POOL_SIZE` > 0 (session mode), each
server process keeps that many containers of `SANDBOX_IMAGE` running, each
labelled with a slot (`sandbox.containers.pool_claims.LABEL_POOL`) and its
process's lease id. A thread's first command claims one (atomically, across
processes), binds the thread's workspace and artifacts and the user's memories
onto its mount points, and from then on it is that thread's session container
for every reader of ownership. The filler also keeps spare workspace,
artifacts and snapshot store images formatted ahead (`sandbox.disks.spare_images`),
so the thread's new disks skip `mkfs.ext4` too. A background thread refills the pool; `drain`
removes this process's untaken containers when the server stops, and `sweep`
removes those of processes that died (at startup and with the periodic sweeps).

One `WarmPool` belongs to one `SandboxDeployment`; nothing lives in module globals.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound

from config.sandbox import SandboxSettings
from sandbox.containers.container_spec import LABEL_OWNER, WORKSPACE_MOUNT, hardened_kwargs, labels_for, scope_of
from sandbox.containers.docker_api import container_runs
from sandbox.containers.pool_claims import (
    DRAINING,
    LABEL_POOL,
    Claimed,
    attach,
    claim,
    ensure_shared_mounts,
    known_slots,
    mounts_dir,
    prepare_slot,
    read_claim,
    release,
)
from sandbox.containers.runner_spec import new_runner_folder
from sandbox.containers.sessions import SESSION_KEEPALIVE
from sandbox.coordination.process_lease import owner_alive
from sandbox.disks.artifacts import ARTIFACTS_MOUNT, ensure_artifacts
from sandbox.disks.disk_quota import quotas_enforced, stock_spare
from sandbox.disks.memories import MEMORIES_MOUNT, ensure_memories
from sandbox.disks.quota_disks import QuotaDisk, artifacts_disk, snapshots_disk, workspace_disk
from sandbox.disks.spare_images import remove_spares, spares
from sandbox.disks.workspace import ThreadRef, ensure_workspace
from sandbox.previews.folders import PREVIEWS_MOUNT, ensure_previews
from sandbox.runs.errors import SandboxError

logger = logging.getLogger(__name__)

TARGETS = (("workspace", WORKSPACE_MOUNT), ("memories", MEMORIES_MOUNT), ("artifacts", ARTIFACTS_MOUNT), ("previews", PREVIEWS_MOUNT))
"""Where each of a pooled container's mount points appears inside it."""

REFILL_EVERY = 30.0
"""Seconds between refill checks when nothing took a container (a removed one is replaced then)."""
REFILL_DELAY = 3.0
"""Seconds without a take (and without any sandbox work) before the filler creates replacements.

Longer than the pauses inside a burst of turns: between two sandbox steps of a turn the model
answers and the server picks the next run up (`langgraph dev` polls its queue about once a
second), so a second without sandbox work is not the end of a burst."""
REFILL_DEFER_MAX = 30.0
"""Longest a refill waits for such a quiet moment."""
ORPHAN_SLOT_GRACE = 120.0
"""A slot's mount points without a container are removed once this old (a container may be being created)."""


def pool_filter(settings: SandboxSettings, **extra: str) -> dict[str, list[str]]:
    """Docker's filter for this scope's pooled containers (the pool label present, any slot)."""
    labels = [f"{key}={value}" for key, value in labels_for(settings, mode="session").items()]
    labels += [f"{key}={value}" for key, value in extra.items()]
    return {"label": [*labels, LABEL_POOL]}


def folders_of(settings: SandboxSettings, ref: ThreadRef) -> dict[str, Path]:
    """The host folders a thread's container shows, prepared (mounted or created) for the sandbox user."""
    return {
        "workspace": ensure_workspace(settings, ref.thread_id, user_id=ref.user_id),
        "memories": ensure_memories(settings, ref.user_id),
        "artifacts": ensure_artifacts(settings, ref.thread_id, user_id=ref.user_id),
        "previews": ensure_previews(settings, ref.thread_id),
    }


class WarmPool:
    """The pooled containers of one process: fill, hand out, refill, drain; and the sweep of dead processes' ones."""

    def __init__(
        self,
        settings: SandboxSettings,
        ensure_image: Callable[[str], None],
        *,
        idle_seconds: Callable[[], float] = lambda: float("inf"),
        started: Callable[[docker.APIClient, str], None] | None = None,
        answers: Callable[[docker.APIClient, str], bool] | None = None,
        settle: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self._ensure_image = ensure_image
        self._started = started
        """Called with each pooled container once it runs: starts its command runner, so a thread's first command finds it up."""
        self._answers = answers
        """Whether a pooled container's command runner answers (with its container's secret): proof that it still runs,
        without asking Docker."""
        self._settle = settle
        """Called before each refill: stops the containers that takes left over `SANDBOX_MAX_CONTAINERS`
        (`sandbox.containers.room_keeper`), so the replacements do not add to them."""
        self._idle_seconds = idle_seconds
        """Seconds since this process's sandbox work (commands, file tools) last started or ended: a refill waits
        until it has been quiet for `REFILL_DELAY` (at most `REFILL_DEFER_MAX`)."""
        self._api: docker.APIClient | None = None
        self._owner = ""
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._filler: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether this pool hands out containers (configured, session mode, and started)."""
        return self._api is not None

    def start(self, api: docker.APIClient, owner: str) -> None:
        """Start the background filler when `SANDBOX_POOL_SIZE` > 0 in session mode; `owner` is this process's lease id.

        A server that may not mount folders logs why and runs without a pool.
        """
        if self.settings.pool_size <= 0 or self.settings.mode != "session" or self._filler is not None:
            return
        try:
            ensure_shared_mounts(self.settings)
        except SandboxError as exc:
            logger.warning("SANDBOX_POOL_SIZE=%d is ignored: %s", self.settings.pool_size, exc)
            return
        self._api, self._owner = api, owner
        self._filler = threading.Thread(target=self._fill_forever, name="sandbox-pool", daemon=True)
        self._filler.start()

    # -- handing out ----------------------------------------------------------

    def serves(self, ref: ThreadRef) -> bool:
        """Whether a first command of `ref` may take a pooled container: only `SANDBOX_IMAGE` is pooled."""
        return self._api is not None and ref.image == self.settings.image

    def claim_one(self, ref: ThreadRef, candidates: list[dict[str, Any]], *, skip: Collection[str] = ()) -> Claimed | None:
        """Claim one of `candidates` (but those in `skip`) for `ref`'s thread, under the session start lock; None if none is left.

        `candidates` are untaken running pooled containers from the caller's Docker
        listing, maybe a few seconds old (`sandbox.containers.start_lock`): a claim is
        atomic, so one taken meanwhile is skipped, and one removed meanwhile is found out
        by `hand_over`. Only `SANDBOX_IMAGE` is pooled; a run on another image creates its container.
        """
        if self._api is None or not self.serves(ref):
            return None
        # This process's own containers first: another process's may be being drained as it stops.
        candidates = sorted(candidates, key=lambda item: (item.get("Labels") or {}).get(LABEL_OWNER) != self._owner)
        try:
            for item in candidates:
                slot = (item.get("Labels") or {}).get(LABEL_POOL, "")
                if slot and item["Id"] not in skip and claim(self.settings, slot, ref.thread_id, ref.user_id):
                    return Claimed(str(item["Id"]), slot)
            return None
        finally:
            self._wake.set()

    def hand_over(self, claimed: Claimed, ref: ThreadRef) -> bool:
        """Bind the thread's folders into its claimed container, after the session start lock; False if it no longer runs.

        A container drained or swept since it was listed has its claim dropped again,
        and the caller claims another. The thread's own start lock is held meanwhile.
        """
        api = self._api
        if api is None or not self._still_runs(api, claimed.container_id):
            logger.info("Pooled sandbox %s went before thread %s could take it", claimed.container_id[:12], ref.thread_id)
            release(self.settings, claimed.slot)
            return False
        try:
            self.reattach(claimed.slot, ref)
        except BaseException:
            self._remove(claimed.container_id, claimed.slot)
            raise
        logger.info("Thread %s takes pooled sandbox %s", ref.thread_id, claimed.container_id[:12])
        return True

    def _still_runs(self, api: docker.APIClient, container_id: str) -> bool:
        """Whether a container listed as an untaken pooled one still runs: its runner answers, else Docker says so."""
        if self._answers is not None and self._answers(api, container_id):
            return True
        return container_runs(api, container_id)

    def prepare(self, ref: ThreadRef) -> None:
        """Make (or mount) the folders `hand_over` will bind, before the session start lock, when the pool may serve `ref`.

        Formatting and mounting disks is the slow part of a first command; done here,
        concurrent first commands of several threads do it at once instead of in turn.
        """
        if self.serves(ref):
            folders_of(self.settings, ref)

    def reattach(self, slot: str, ref: ThreadRef) -> None:
        """Bind the thread's folders again, keeping those already bound.

        Before its stopped pooled container starts (after a reboot they are gone), and before
        a later first command hands out its running one (a take may have died before its binds).
        """
        attach(self.settings, slot, folders_of(self.settings, ref))

    # -- filling --------------------------------------------------------------

    def _fill_forever(self) -> None:
        while not self._closed.is_set():
            try:
                self.refill()
            except Exception:  # the filler must outlive a Docker hiccup
                logger.exception("Could not refill the sandbox pool; retrying")
                self._closed.wait(5.0)
            if self._wake.wait(REFILL_EVERY):
                self._wait_for_quiet()

    def _wait_for_quiet(self) -> None:
        """After a take, wait until takes stop and no sandbox work ran for `REFILL_DELAY`, before creating replacements.

        Creating containers and formatting disks compete with the burst's commands for the
        same CPUs and the same Docker daemon; a server that never goes quiet still
        refills after `REFILL_DEFER_MAX` seconds.
        """
        deadline = time.monotonic() + REFILL_DEFER_MAX
        quiet_for = 0.0
        while not self._closed.is_set() and time.monotonic() < deadline:
            self._wake.clear()
            if self._wake.wait(max(REFILL_DELAY - quiet_for, 0.1)):
                quiet_for = 0.0
                continue  # another thread took one: the burst goes on
            quiet_for = self._idle_seconds()
            if quiet_for >= REFILL_DELAY:
                return

    def untaken(self) -> list[dict[str, Any]]:
        """Running pooled containers of this process that nobody claimed."""
        if self._api is None:
            return []
        mine = self._api.containers(filters=pool_filter(self.settings, **{LABEL_OWNER: self._owner}))
        return [item for item in mine if read_claim(self.settings, item["Labels"][LABEL_POOL]) is None]

    def refill(self) -> int:
        """Start containers until this process has `SANDBOX_POOL_SIZE` untaken ones, then make spare disks; how many were started."""
        self._settle()
        started = 0
        while not self._closed.is_set() and len(self.untaken()) < self.settings.pool_size:
            self._create()
            started += 1
        for disk in self._spare_disks():
            while not self._closed.is_set() and stock_spare(self.settings, disk, keep=self.settings.pool_size):
                pass
        return started

    def full(self) -> bool:
        """Whether the pool holds `SANDBOX_POOL_SIZE` untaken containers and, with disk quotas, as many spare disks of each kind."""
        size = self.settings.pool_size
        if len(self.untaken()) < size:
            return False
        return not quotas_enforced(self.settings) or all(len(spares(d.image.parent, d.size)) >= size for d in self._spare_disks())

    def _spare_disks(self) -> list[QuotaDisk]:
        """The disks every new thread makes (its workspace, artifacts and snapshot store), as templates for spares of their size.

        A kind whose quota is 0 (off) has no disk, hence no spares.
        """
        disks = [workspace_disk(self.settings, "spare"), artifacts_disk(self.settings, "spare"), snapshots_disk(self.settings, "spare")]
        return [disk for disk in disks if disk.size]

    def _create(self) -> str:
        api = self._api
        if api is None:
            msg = "the sandbox pool has not started"
            raise SandboxError(msg)
        self._ensure_image(self.settings.image)
        slot = secrets.token_hex(8)
        points = prepare_slot(self.settings, slot)
        binds = {str(points[name]): {"bind": target, "mode": "rw,rslave"} for name, target in TARGETS}
        labels = {**labels_for(self.settings, mode="session"), LABEL_POOL: slot, LABEL_OWNER: self._owner}
        runner = new_runner_folder(self.settings) if self.settings.command_runner else None
        kwargs = hardened_kwargs(
            self.settings,
            api=api,
            binds=binds,
            labels=labels,
            image=self.settings.image,
            command=list(SESSION_KEEPALIVE),
            name=f"sandbox-{scope_of(self.settings)[:8]}-pool-{slot}",
            runner=runner,
        )
        container_id = ""
        try:
            container_id = str(api.create_container(**kwargs)["Id"])
            api.start(container_id)
            if self._started is not None:
                self._started(api, container_id)
        except BaseException:
            self._remove(container_id, slot)
            raise
        return container_id

    # -- removing ---------------------------------------------------------------

    def _remove(self, container_id: str, slot: str) -> None:
        """Remove a pooled container, then unbind its folders and drop its claim."""
        if container_id and self._api is not None:
            with contextlib.suppress(NotFound):
                self._api.remove_container(container_id, force=True)
        release(self.settings, slot)

    def drain(self) -> int:
        """Remove this process's untaken pooled containers (a server stopping); how many."""
        removed = 0
        for item in self.untaken():
            slot = item["Labels"][LABEL_POOL]
            if claim(self.settings, slot, *DRAINING):  # a thread that took it meanwhile keeps it
                self._remove(item["Id"], slot)
                removed += 1
        return removed

    def close(self) -> None:
        """Stop the filler and drain."""
        self._closed.set()
        self._wake.set()
        if self._filler is not None:
            self._filler.join(timeout=60)
        try:
            drained = self.drain()
        except (APIError, OSError):
            logger.exception("Could not drain the sandbox pool; the next sweep removes what is left")
            return
        for disk in self._spare_disks():
            remove_spares(disk.image.parent)
        if drained:
            logger.info("Removed %d untaken pooled sandbox container(s)", drained)


def sweep_pool(settings: SandboxSettings, api: docker.APIClient, now: float | None = None) -> list[str]:
    """Remove untaken pooled containers of dead processes, and host mounts of slots whose container is gone; their slots.

    Runs in any process (at startup and with the periodic sweeps); a taken
    container is a thread's session container and is never swept here.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    live: set[str] = set()
    for item in api.containers(all=True, filters=pool_filter(settings)):
        labels = item.get("Labels") or {}
        slot = labels.get(LABEL_POOL, "")
        live.add(slot)
        taken = read_claim(settings, slot)
        if taken is not None and (taken.thread_id, taken.user_id) != DRAINING:
            continue
        age = now - float(item.get("Created") or 0)
        dead = owner_alive(settings, labels.get(LABEL_OWNER, ""), age=age) is False
        stopped = item.get("State") != "running" and age >= ORPHAN_SLOT_GRACE  # younger: maybe being started
        if not (dead or stopped or taken is not None):
            continue
        if taken is None and not claim(settings, slot, *DRAINING):
            continue  # a thread took it just now
        logger.warning("Removing pooled sandbox container %s: its server process is gone", str(item["Id"])[:12])
        with contextlib.suppress(NotFound):
            api.remove_container(item["Id"], force=True)
        release(settings, slot)
        removed.append(slot)
    for slot in known_slots(settings) - live:
        folder = mounts_dir(settings) / slot
        with contextlib.suppress(FileNotFoundError):
            if now - folder.stat().st_mtime < ORPHAN_SLOT_GRACE:
                continue
        release(settings, slot)
        removed.append(slot)
    return removed
