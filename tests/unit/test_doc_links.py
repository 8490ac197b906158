"""Every relative link in the README and docs/ leads somewhere: the file exists, and so does the heading it names.

Pages move and headings get renamed; a link that silently leads nowhere is a
dead end for exactly the reader who followed it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.env import PROJECT_ROOT

PAGES = sorted([PROJECT_ROOT / "README.md", PROJECT_ROOT / "tests" / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""`[text](target)` and `![alt](target)`, also with a title; the target is group 1."""
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _outside_fences(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    kept: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return kept


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where a link is a link."""
    return "\n".join(re.sub(r"`[^`]*`", "", line) for line in _outside_fences(text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower()).replace("_", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page, with GitHub's `-1`, `-2` suffixes for repeats."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for line in _outside_fences(page.read_text(encoding="utf-8")):  # a heading's inline code counts for its anchor
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file or heading does not exist."""
    broken: list[str] = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor} in {destination.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_pages_are_found() -> None:
    names = {p.relative_to(PROJECT_ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/settings.md", "tests/README.md"} <= names


def test_the_check_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Some `code` here\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Two words\n\n"
        "[ok](other.md) [ok](other.md#some-code-here) [ok](#two-words) [ok](https://example.com/x)\n"
        "[gone](missing.md) [gone](other.md#nowhere) [gone](#no-such-heading) ![gone](pic.png)\n"
        "`[not a link](missing.md)`\n\n```\n[not a link](missing.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md (no such file)",
        "other.md#nowhere (no heading #nowhere in other.md)",
        "#no-such-heading (no heading #no-such-heading in page.md)",
        "pic.png (no such file)",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Using it with `langgraph-sdk`", "using-it-with-langgraph-sdk"),
        ("Many users: authentication and ownership", "many-users-authentication-and-ownership"),
        ("Long-term memory (per user)", "long-term-memory-per-user"),
        ("The server's own routes", "the-servers-own-routes"),
    ],
)
def test_slug_matches_githubs_anchors(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


README_MAX_LINES = 200
"""The README is what a user needs first; everything else is a page in docs/."""


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    first_screen = "\n".join(lines[:50])
    assert "bash scripts/start.sh" in first_screen
    assert 'uv run pytest -m "' in first_screen
