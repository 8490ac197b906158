"""`ProcessManager`: the thread's background processes, from start to end.

One per deployment (`SandboxDeployment.processes`), holding nothing that matters
in memory: every process is a record on disk (`sandbox.processes.records`) and a
process group in a container (`sandbox.processes.scripts`), so any server
process, or one restarted, finds the same truth. Where a process runs:

- session mode: in the thread's session container, which its syncs keep in use
  (so the idle reaper leaves a container with a running process alone);
- ephemeral mode: in a container of its own, built like a command's (same
  workspace, mounts and limits) and labelled with the thread, so thread removal
  and the reconciler find it; it is removed when the process ends.

Output reaches the host when someone looks (a tool, a route, the housekeeper's
pass), copied from the container's log into the bounded host file.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from docker.errors import APIError, NotFound

from sandbox.containers.container_spec import WORKSPACE_MOUNT, sandbox_environment
from sandbox.containers.ephemeral import start_own_container
from sandbox.coordination import thread_use
from sandbox.coordination.locks import exclusive_file_lock, lock_subdir
from sandbox.disks.workspace import ThreadRef, prepare_workspace
from sandbox.processes import scripts
from sandbox.processes.records import ProcessRecord, ProcessRecords, new_process_id, now
from sandbox.runs.errors import SandboxError, UserCapError

if TYPE_CHECKING:
    from sandbox.containers.deployment import SandboxDeployment

logger = logging.getLogger(__name__)

PROCESS_MODE_LABEL = "process"
"""`LABEL_MODE` of an ephemeral-mode process's own container: neither a command's (swept when its server dies)
nor a session (counted by the session caps)."""

SYNC_PIECE_BYTES = 256 * 1024
"""Most output one probe copies; a sync probes again while pieces come back full."""
SYNC_MAX_PIECES = 16
MAX_COMMAND_CHARS = 16 * 1024
MAX_INPUT_BYTES = 64 * 1024
"""Most one `send_input` writes (it travels as an exec argument)."""
STOP_WAIT_SECONDS = 4.0


class ProcessError(SandboxError):
    """A process request that cannot be done; `status` is what a route answers (the text is for the agent too)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ProcessLimitError(UserCapError):
    """Past `SANDBOX_MAX_PROCESSES_PER_THREAD` or `SANDBOX_MAX_PROCESSES_PER_USER`."""


class ProcessManager:
    """Start, observe, feed and stop the background processes of every thread of one deployment."""

    def __init__(self, deployment: SandboxDeployment) -> None:
        self.deployment = deployment
        self.settings = deployment.settings
        self.records = ProcessRecords(deployment.settings)

    # -- starting ---------------------------------------------------------------

    def start(self, ref: ThreadRef, command: str) -> ProcessRecord:
        """Start `command` in the background in `ref`'s sandbox, within the caps; its record."""
        if not command.strip():
            msg = "start_process needs a command"
            raise ProcessError(msg)
        if len(command) > MAX_COMMAND_CHARS:
            msg = f"the command is longer than {MAX_COMMAND_CHARS} characters"
            raise ProcessError(msg)
        self.deployment.ensure_image(ref.image)
        prepare_workspace(self.settings, ref.thread_id, create=True, user_id=ref.user_id)
        with exclusive_file_lock(lock_subdir(self.settings, "processes") / "start.lock"):
            self._check_caps(ref)
            process_id = new_process_id()
            if self.settings.mode == "session":
                with self.deployment.session_container(ref) as container_id:
                    self._exec_detached(container_id, scripts.argv(scripts.START, process_id, command))
                own = False
            else:
                container_id = self._own_container(ref, process_id)
                own = True
                self._exec_detached(container_id, scripts.argv(scripts.START, process_id, command))
            started = now()
            record = ProcessRecord(
                process_id=process_id,
                thread_id=ref.thread_id,
                user_id=ref.user_id,
                command=command,
                container_id=container_id,
                own_container=own,
                started_at=started,
                last_activity=started,
            )
            with self.records.locked(ref.thread_id):
                self.records.save(record, new=True)
        logger.info("Thread %s started background process %s: %s", ref.thread_id, process_id, command[:200])
        return record

    def _check_caps(self, ref: ThreadRef) -> None:
        """Refuse a process past the thread's or the user's cap, counting only processes still running now."""
        mine = [self.sync(r) for r in self.records.all_running() if r.user_id == ref.user_id]
        running = [r for r in mine if r.state == "running"]
        in_thread = [r for r in running if r.thread_id == ref.thread_id]
        if len(in_thread) >= self.settings.max_processes_per_thread:
            cap = self.settings.max_processes_per_thread
            msg = (
                f"this thread already has {cap} background process(es) running (SANDBOX_MAX_PROCESSES_PER_THREAD={cap}); "
                "stop one (stop_process) before starting another."
            )
            raise ProcessLimitError(msg)
        if len(running) >= self.settings.max_processes_per_user:
            cap = self.settings.max_processes_per_user
            msg = (
                f"user {ref.user_id!r} already has {cap} background process(es) running across their threads "
                f"(SANDBOX_MAX_PROCESSES_PER_USER={cap}); stop one before starting another."
            )
            raise ProcessLimitError(msg)

    def _own_container(self, ref: ThreadRef, process_id: str) -> str:
        """Ephemeral mode: a container for this process alone, with the thread's workspace, mounts and limits."""
        return start_own_container(self.settings, self.deployment.start(), ref, suffix=process_id, mode_label=PROCESS_MODE_LABEL)

    # -- talking to the container -------------------------------------------------

    def _exec_create(self, container_id: str, argv: list[str]) -> str:
        created = self.deployment.api.exec_create(
            container_id,
            argv,
            user=f"{self.settings.uid}:{self.settings.gid}",
            workdir=WORKSPACE_MOUNT,
            environment=sandbox_environment(),
        )
        return str(created["Id"])

    def _exec_detached(self, container_id: str, argv: list[str]) -> None:
        self.deployment.api.exec_start(self._exec_create(container_id, argv), detach=True)

    def _exec(self, container_id: str, argv: list[str]) -> tuple[int | None, bytes]:
        """Run a short script in the container: (exit code, stdout)."""
        api = self.deployment.api
        exec_id = self._exec_create(container_id, argv)
        out = api.exec_start(exec_id, demux=True)
        stdout = (out[0] if isinstance(out, tuple) else out) or b""
        return api.exec_inspect(exec_id).get("ExitCode"), stdout

    # -- observing ----------------------------------------------------------------

    def sync(self, record: ProcessRecord, *, looked: bool = False) -> ProcessRecord:
        """Copy new output to the host and learn whether the process still runs; the saved record.

        `looked`: the agent or a client is looking at it, which counts as activity for the idle TTL.
        """
        with self.records.locked(record.thread_id):
            current = self.records.get(record.thread_id, record.process_id)
            if current is None:  # its thread was removed meanwhile, and its containers with it
                return self._ended(record, None, "its thread was deleted")
            if current.state != "running":
                return current
            updated = self._probe(current)
            if looked:
                updated = replace(updated, last_activity=now())
            self.records.save(updated)
        if updated.state != "running" and updated.own_container:
            self._remove_own_container(updated)
        return updated

    def _probe(self, record: ProcessRecord) -> ProcessRecord:
        self.deployment.start()
        for _ in range(SYNC_MAX_PIECES):
            try:
                with self._in_use(record):
                    _, out = self._exec(
                        record.container_id, scripts.argv(scripts.PROBE, record.process_id, str(record.read + 1), str(SYNC_PIECE_BYTES))
                    )
            except (NotFound, APIError) as exc:
                if isinstance(exc, APIError) and exc.status_code not in (404, 409):
                    raise
                return self._ended(record, None, "its sandbox container stopped or was removed")
            status, _, data = out.partition(b"\n")
            if data:
                record = replace(self.records.append_output(record, data), last_activity=now())
            if len(data) >= SYNC_PIECE_BYTES:
                continue  # more output waits; the state is read again with the last piece
            words = status.decode(errors="replace").split()
            if words[:1] == ["exit"]:
                code = int(words[1]) if len(words) > 1 and words[1].lstrip("-").isdigit() else None
                return self._ended(record, code, "exited")
            if words[:1] == ["gone"]:
                return self._ended(record, None, "ended without an exit status (its sandbox was restarted)")
            break
        return record

    def _in_use(self, record: ProcessRecord) -> AbstractContextManager[None]:
        """Session mode: a look at a running process keeps its session container from being stopped as idle."""
        if record.own_container:
            return nullcontext()
        return thread_use.using(self.settings, self.deployment.engine, record.thread_id, self.deployment.lease.id)

    @staticmethod
    def _ended(record: ProcessRecord, exit_code: int | None, reason: str) -> ProcessRecord:
        return replace(record, state="ended", exit_code=exit_code, ended_at=now(), end_reason=record.end_reason or reason)

    def _remove_own_container(self, record: ProcessRecord) -> None:
        try:
            self.deployment.api.remove_container(record.container_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:
                logger.warning("Could not remove the container of ended process %s", record.process_id, exc_info=True)

    def get(self, thread_id: str, process_id: str, *, looked: bool = True) -> ProcessRecord:
        """One process of the thread, synced; `ProcessError` (404) for an id the thread does not have."""
        record = self.records.get(thread_id, process_id)
        if record is None:
            msg = f"thread has no process {process_id!r}"
            raise ProcessError(msg, status=404)
        return self.sync(record, looked=looked)

    def of_thread(self, thread_id: str) -> list[ProcessRecord]:
        """The thread's processes, running and ended, synced (so a restarted server lists them truthfully)."""
        return [self.sync(record) for record in self.records.of_thread(thread_id)]

    def output(
        self, thread_id: str, process_id: str, since: int = 0, limit: int = SYNC_PIECE_BYTES
    ) -> tuple[ProcessRecord, bytes, int, int]:
        """(record, output bytes, their start offset, the next offset) from absolute byte `since`."""
        record = self.get(thread_id, process_id)
        data, start, after = self.records.output(record, max(0, since), max(0, limit))
        return record, data, start, after

    # -- acting -------------------------------------------------------------------

    def send_input(self, thread_id: str, process_id: str, text: str) -> ProcessRecord:
        """Write `text` to the process's stdin."""
        if len(text.encode()) > MAX_INPUT_BYTES:
            msg = f"the input is longer than {MAX_INPUT_BYTES} bytes"
            raise ProcessError(msg)
        if "\x00" in text:
            msg = "the input cannot contain NUL characters"
            raise ProcessError(msg)
        record = self.get(thread_id, process_id)
        if record.state != "running":
            msg = f"process {process_id} has ended"
            raise ProcessError(msg, status=409)
        code, _ = self._exec(record.container_id, scripts.argv(scripts.SEND_INPUT, process_id, text))
        if code != 0:
            msg = f"process {process_id} has ended"
            raise ProcessError(msg, status=409)
        with self.records.locked(thread_id):
            current = self.records.get(thread_id, process_id) or record
            self.records.save(replace(current, last_activity=now()))
        return current

    def stop(self, thread_id: str, process_id: str, *, reason: str = "stopped") -> ProcessRecord:
        """End the process's whole process group (SIGTERM, then SIGKILL); its final record. Stopping an ended one is a no-op."""
        record = self.get(thread_id, process_id, looked=False)
        if record.state != "running":
            return record
        with self.records.locked(thread_id):
            current = self.records.get(thread_id, process_id) or record
            self.records.save(replace(current, end_reason=reason))
        try:
            self._exec(record.container_id, scripts.argv(scripts.STOP, process_id))
        except (NotFound, APIError):
            logger.info("Process %s: its container went before the stop", process_id)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while (record := self.sync(record)).state == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        if record.state == "running":
            with self.records.locked(thread_id):
                record = self._ended(record, None, reason)
                self.records.save(record)
        logger.info("Thread %s: background process %s %s", thread_id, process_id, reason)
        return record

    def session_threads_running(self) -> set[str]:
        """The threads with a process recorded as running in their session container (a graceful stop leaves those)."""
        return {record.thread_id for record in self.records.all_running() if not record.own_container}

    def reap_idle(self, at: float | None = None) -> list[ProcessRecord]:
        """Sync every running process; stop those idle past `SANDBOX_PROCESS_IDLE_TTL`. The stopped ones."""
        at = now() if at is None else at
        stopped = []
        for record in self.records.all_running():
            try:
                synced = self.sync(record)
                if synced.state == "running" and at - synced.last_activity >= self.settings.process_idle_ttl_seconds:
                    stopped.append(self.stop(record.thread_id, record.process_id, reason="stopped after SANDBOX_PROCESS_IDLE_TTL idle"))
            except Exception:
                logger.exception("Could not check background process %s", record.process_id)
        return stopped

    def remove_thread(self, thread_id: str) -> None:
        """A deleted thread: its containers (with its processes) are removed by label; this forgets the records."""
        self.records.remove_thread(thread_id)
