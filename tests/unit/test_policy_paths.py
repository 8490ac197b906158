"""Property tests: however a path is spelled, a rule on where it leads applies to it.

The lexical half (no disk): relative forms, `.`, `..` and repeated slashes. The
resolved half (symlinks, on real files through the real backend) is in
`tests/sandbox/test_policy_walkarounds.py`.
"""

from __future__ import annotations

import posixpath

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.policy.layers import RunRules
from agent.policy.paths import call_facts, lexical
from agent.policy.rules import parse_rules

EXAMPLES = settings(max_examples=300, deadline=None, derandomize=True)
DENIED = "/workspace/secret"
RULES = RunRules.of(parse_rules([{"name": "secret", "paths": [f"{DENIED}/**", DENIED], "mode": "deny"}], "admin"), {})

NAMES = st.sampled_from(["a", "b", "secret", "src", ".env", "x y", "ü"])


@st.composite
def spelled(draw: st.DrawFn, parts: list[str]) -> str:
    """`parts` under /workspace, spelled with detours: `.`, `name/..`, doubled slashes, relative or absolute."""
    out: list[str] = []
    for part in parts:
        for _ in range(draw(st.integers(0, 2))):
            out.append(draw(st.sampled_from([".", "", f"{draw(NAMES)}/.."])))
        out.append(part)
    body = "/".join(out).lstrip("/")  # an empty first detour must not make a relative spelling absolute
    return draw(st.sampled_from([f"/workspace/{body}", body, f"./{body}", f"//workspace//{body}"]))


@EXAMPLES
@given(data=st.data(), below=st.lists(NAMES, max_size=4), tool=st.sampled_from(["read_file", "write_file", "edit_file", "delete"]))
def test_any_spelling_of_a_path_under_a_denied_prefix_is_denied(data: st.DataObject, below: list[str], tool: str) -> None:
    path = data.draw(spelled(["secret", *below]))
    assert lexical(path) == posixpath.join(DENIED, *below), path
    assert RULES.decide(call_facts(tool, {"file_path": path})).decision == "deny", path


@EXAMPLES
@given(data=st.data(), first=NAMES.filter(lambda n: n != "secret"), below=st.lists(NAMES, max_size=3))
def test_paths_elsewhere_are_not_denied(data: st.DataObject, first: str, below: list[str]) -> None:
    path = data.draw(spelled([first, *below]))
    assert RULES.decide(call_facts("read_file", {"file_path": path})).decision == "allow", path
