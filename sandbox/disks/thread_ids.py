"""The one spelling of a thread id: what may name a workspace, a disk image and a container.

LangGraph thread ids are UUIDs, and `uuid.UUID` accepts many spellings of one
value: upper or mixed case, no hyphens, hyphens anywhere, braces, `urn:uuid:`,
even underscores between digits. Both servers resolve `/threads/{id}` through
such a parse, so each spelling reaches the same thread; a folder or image named
after the spelling would be a second workspace with its own quota. So a name that
parses as a UUID is accepted only in its canonical form (`str(uuid.UUID(x))`,
lower case with hyphens), and every other spelling is refused with the canonical
one in the message. Names that are not UUIDs at all (a script's
`DockerSandbox("my-thread", ...)`, Aegra's client-chosen ids) are kept as they
are when they are safe as one path component and one container name.

Removal (`sandbox.containers.removal`) uses `storage_name` instead: what is already on disk
or in Docker under a non-canonical name must still be removable.
"""

from __future__ import annotations

import re
import uuid

from sandbox.runs.errors import InvalidThreadIdError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class NonCanonicalThreadIdError(InvalidThreadIdError):
    """Another spelling of a UUID thread id: refused, so it never gets storage of its own."""

    def __init__(self, given: str, canonical: str) -> None:
        super().__init__(f"thread id {given!r} is another spelling of {canonical}: use that spelling (lower case, with hyphens)")
        self.canonical = canonical


def uuid_form(name: str) -> str | None:
    """The canonical UUID spelling `name` parses as, or None when it is not a UUID in any spelling."""
    try:
        return str(uuid.UUID(name))
    except (ValueError, TypeError, AttributeError):
        return None


def storage_name(name: object) -> str:
    """`name` if it can safely be one path component and part of a container name (any spelling); else refuse."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or name in {".", ".."}:
        msg = f"thread id {name!r} cannot name a workspace: use letters, digits, '-', '_' or '.' (at most 128)"
        raise InvalidThreadIdError(msg)
    return name


def canonical_thread_id(name: object) -> str:
    """`name` when it is the one spelling of its thread; refuse unsafe names and other spellings of a UUID."""
    safe = uuid_form(name) if isinstance(name, str) else None
    if safe is not None and safe != name:
        raise NonCanonicalThreadIdError(str(name), safe)
    return storage_name(name)


def is_alias(name: str) -> bool:
    """Whether `name` (found on disk or on a container) is a non-canonical spelling of a UUID."""
    canonical = uuid_form(name)
    return canonical is not None and canonical != name
