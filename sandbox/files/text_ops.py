"""What the file tools do with text once a file is open: read windows, CRLF-keeping edits, line grep.

Pure text handling with deepagents' own rules (`slice_read_response`,
`perform_string_replacement`), kept apart from the race-free path walk and the
tool surface in `sandbox.files.file_tools`.
"""

from __future__ import annotations

from collections.abc import Callable

from deepagents.backends.protocol import FileData, GrepMatch, ReadResult
from deepagents.backends.utils import perform_string_replacement, slice_read_response

from sandbox.files.fd_walk import read_capped


def replace_text(text: str, old: str, new: str, *, replace_all: bool) -> tuple[str, int] | str:
    """`perform_string_replacement`, keeping CRLF files CRLF.

    `read` shows CRLF as LF, so the model's `old_string` arrives LF-only. Like the
    sandbox edit script, try it as sent, then in CRLF form, and transform
    `new_string` the same way, instead of rewriting the whole file to LF.
    """
    lf_old, lf_new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
    candidates = [(old, new), (lf_old.replace("\n", "\r\n"), lf_new.replace("\n", "\r\n")), (lf_old, lf_new)]
    cand_old, cand_new = next(((o, n) for o, n in candidates if o and o in text), (old, new))
    count = text.count(cand_old) if cand_old else 0
    if count > 1 and not replace_all:
        return (
            f"Error: String '{old}' appears {count} times in file (multiple occurrences). "
            "Use replace_all=True to replace all instances, or provide a more specific string with surrounding context."
        )
    return perform_string_replacement(text, cand_old, cand_new, replace_all)


def utf8_or_none(raw: bytes) -> str | None:
    """The text, or None when the bytes are not UTF-8 (then they are binary to us)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def text_window(text: str, offset: int, limit: int) -> ReadResult:
    """Paginate like `slice_read_response`, but end without a line terminator like BaseSandbox."""
    result = slice_read_response(FileData(content=text, encoding="utf-8"), offset, limit)
    if result.file_data is not None and result.start_line is not None:
        result.file_data["content"] = result.file_data["content"].removesuffix("\n")
    return result


class GrepSearch:
    """One grep's pattern, limits and accumulated matches."""

    def __init__(
        self, pattern: str, include: Callable[[str], bool] | None, max_count: int | None, deadline: float, *, max_file_bytes: int
    ) -> None:
        self.pattern = pattern
        self.max_file_bytes = max_file_bytes
        self.include = include
        self.max_count = max_count
        self.deadline = deadline
        self.matches: list[GrepMatch] = []

    def scan(self, fd: int, vpath: str) -> bool:
        """Add this file's matching lines; True once a match beyond `max_count` shows up."""
        raw = read_capped(fd, self.max_file_bytes)
        if raw is None:
            return False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return False  # binary: skipped silently, like ripgrep
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, raw_line in enumerate(lines, 1):
            line = raw_line.removesuffix("\r")
            if self.pattern in line:
                if self.max_count is not None and len(self.matches) >= self.max_count:
                    return True
                self.matches.append({"path": vpath, "line": number, "text": line})
        return False
