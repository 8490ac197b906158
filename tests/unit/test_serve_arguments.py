"""The deployment entry point's command line, fuzzed: any arguments are served or refused clearly.

`deploy/aegra/serve.py` is what an operator types options to (through serve.sh).
Whatever they are, parsing ends in checked options, the usage (exit 2) or a
one-line refusal (`Refusal`, exit 1); never a traceback, and before anything starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.env import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "deploy" / "aegra"))  # the entry point's modules sit beside it, as it runs them
import serve
from serve_log import Refusal

OPTIONS = ("--port", "--workers", "--host", "--data-dir", "--config", "--help", "-h", "--bogus")
WORDS = st.sampled_from(OPTIONS) | st.text(max_size=12) | st.integers(-5, 70000).map(str)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(WORDS, max_size=8))
def test_any_arguments_are_parsed_or_refused(argv: list[str]) -> None:
    outcome = parsed(argv)
    if isinstance(outcome, SystemExit):
        assert outcome.code == 2
    elif isinstance(outcome, Refusal):
        assert str(outcome)
    else:
        assert 1 <= outcome.port <= 65535
        assert outcome.workers >= 1
        assert outcome.host
        assert outcome.config.is_file()
        assert outcome.data_dir.is_absolute()


def parsed(argv: list[str]) -> serve.Options | SystemExit | Refusal:
    """What parsing `argv` gave: the options, the usage's exit, or the refusal."""
    try:
        return serve.parse(argv)
    except (SystemExit, Refusal) as ended:
        return ended


def test_good_arguments_are_taken(tmp_path: Path) -> None:
    options = serve.parse(["--port", "8123", "--workers", "3", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")])
    assert (options.port, options.workers, options.host) == (8123, 3, "0.0.0.0")
    assert options.data_dir == tmp_path / "d"
    assert options.config == PROJECT_ROOT / "langgraph.json"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ([], "--port PORT is required (1-65535)"),
        (["--port", "0"], "--port PORT is required (1-65535)"),
        (["--port", "\u00b2"], "--port PORT is required (1-65535)"),  # a digit to str.isdigit, not to int()
        (["--port", "80", "--workers", "\u0663"], "--workers N needs a whole number of at least 1, not '\u0663'"),
        (["--port", "80", "--workers", "0"], "--workers N needs a whole number of at least 1, not '0'"),
        (["--port", "80", "--host", ""], "--host needs an address"),
        (["--port", "80", "--config", "/nonexistent/langgraph.json"], "--config /nonexistent/langgraph.json: no such file"),
    ],
)
def test_bad_arguments_say_why(argv: list[str], reason: str) -> None:
    with pytest.raises(Refusal) as refused:
        serve.parse(argv)
    assert str(refused.value) == reason
