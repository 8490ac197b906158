"""A thread's `/artifacts`: where deepagents writes on its own, outside the user's `/workspace`.

deepagents writes files without any tool call asking for them: a tool result
too large for the conversation (a `task` subagent's answer included) is evicted
to `<artifacts_root>/large_tool_results/<tool_call_id>`, `execute` output past
the same size is captured there by the command itself, and summarization keeps
the conversation it cut in `<artifacts_root>/conversation_history/`. None of that
is the user's work, and none of it passes an approval, so it must not land among
the user's files. The agent's graph sets `artifacts_root` to `/artifacts`, a
folder of its own per thread (`<SANDBOX_WORKSPACES_DIR>.artifacts/<thread_id>/`),
mounted read-write in the thread's containers and reached by the file tools like
`/workspace`, so both the agent and the shell read it back. With disk quotas on
it is its own ext4 image of `SANDBOX_ARTIFACTS_QUOTA`, like a workspace. Every
write the backend makes there is audited (`sandbox.runs.audit`, event `artifact`).
"""

from __future__ import annotations

from pathlib import Path

from config.sandbox import SandboxSettings
from sandbox.disks.quota_disks import artifacts_disk
from sandbox.disks.thread_ids import storage_name
from sandbox.disks.workspace import folder_names, prepare_quota_folder, remove_quota_folder, validate_thread_id

ARTIFACTS_MOUNT = "/artifacts"
"""Where the thread's artifacts folder is, for the shell and the file tools alike."""


def artifacts_path(settings: SandboxSettings, thread_id: str) -> Path:
    """`<SANDBOX_WORKSPACES_DIR>.artifacts/<thread_id>/` on the host: the thread's `/artifacts`."""
    return settings.artifacts_dir / validate_thread_id(thread_id)


def is_artifact(path: str) -> bool:
    """Whether a container path is inside `/artifacts`."""
    return path == ARTIFACTS_MOUNT or path.startswith(ARTIFACTS_MOUNT + "/")


def prepare_artifacts(settings: SandboxSettings, thread_id: str, *, create: bool, user_id: str) -> Path:
    """Return the thread's artifacts folder, mounted (quotas on) or created (`create`) as needed; it counts towards `user_id`'s budget."""
    return prepare_quota_folder(settings, artifacts_disk(settings, validate_thread_id(thread_id)), create=create, user_id=user_id)


def ensure_artifacts(settings: SandboxSettings, thread_id: str, *, user_id: str) -> Path:
    """Create (or mount) the thread's artifacts folder, before Docker would create it as root."""
    return prepare_artifacts(settings, thread_id, create=True, user_id=user_id)


def artifact_thread_ids(settings: SandboxSettings) -> set[str]:
    """Threads that have an artifacts folder or image (a thread may have one before it has a workspace)."""
    return folder_names(settings.artifacts_images_dir, settings.artifacts_dir)


def remove_artifacts(settings: SandboxSettings, thread_id: str) -> bool:
    """Delete the thread's artifacts folder (its image too); False when there was none.

    Like `remove_workspace`, any safe name is removable, also another spelling of a
    thread id left from before such spellings were refused.
    """
    return remove_quota_folder(settings, artifacts_disk(settings, storage_name(thread_id)))
