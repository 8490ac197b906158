"""The servers the package runs on, started the same way for tests and benchmarks.

The same `langgraph.json` is served by `langgraph dev` (one process, state pickled
to its working directory) and by Aegra (PostgreSQL, and Redis to share runs and
streams between several processes; `tests/support/aegra_server.py` starts it
through `deploy/aegra/serve.sh`). `run_engine()` starts either one;
`RestartableServer` keeps one running and can restart it in place (same port,
same state), the way a deploy or a crash recovery does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

from tests.support.aegra_server import run_aegra
from tests.support.langgraph_server import LangGraphServer, free_port, run_langgraph_dev

LANGGRAPH_DEV = "langgraph-dev"
"""`langgraph dev`: one process, in-memory runtime."""
AEGRA = "aegra"
"""Aegra with `CONTRACT_AEGRA_WORKERS` processes sharing PostgreSQL and Redis."""
ENGINES = (LANGGRAPH_DEV, AEGRA)
"""Every engine `run_engine` starts."""
CONTRACT_ENGINES = (LANGGRAPH_DEV, AEGRA)
"""The engines the contract suite runs on (test ids show which)."""
CONTRACT_AEGRA_WORKERS = 2
"""Aegra processes in the contract suite: two, so a stream join can land on a process that does not run the run."""


def run_engine(
    engine: str, *, workdir: Path, env: Mapping[str, str], port: int | None = None, workers: int = CONTRACT_AEGRA_WORKERS
) -> contextlib.AbstractContextManager[LangGraphServer]:
    """Start `engine` serving the repository's `langgraph.json` until the `with` block ends.

    `workers` applies to Aegra only (`langgraph dev` is one process). A restart
    with the same `workdir` (and, for Aegra, the same database) finds the
    threads, checkpoints and pending approvals of the previous start.
    """
    if engine == LANGGRAPH_DEV:
        return run_langgraph_dev(workdir=workdir, env=env, port=port)
    if engine == AEGRA:
        return run_aegra(workdir=workdir, env=env, port=port, workers=workers)
    msg = f"unknown engine {engine!r}; known: {', '.join(ENGINES)}"
    raise ValueError(msg)


class RestartableServer:
    """A server started by `start(port)`, kept on one port, which can be restarted in place."""

    def __init__(self, start: Callable[[int], contextlib.AbstractContextManager[LangGraphServer]], port: int | None = None) -> None:
        self._start = start
        self.port = port or free_port()
        self._stack = contextlib.ExitStack()
        self._server: LangGraphServer | None = None

    @property
    def server(self) -> LangGraphServer:
        """The running server (a new object after each restart)."""
        if self._server is None:
            msg = "the server is not running"
            raise RuntimeError(msg)
        return self._server

    def start(self) -> LangGraphServer:
        """Start the server (after a stop or at first)."""
        self._server = self._stack.enter_context(self._start(self.port))
        return self._server

    def stop(self) -> None:
        """Stop the server (its state stays where `start` keeps it)."""
        self._server = None
        self._stack.close()
        self._stack = contextlib.ExitStack()

    def restart(self) -> LangGraphServer:
        """Stop, then start again on the same port with the same state."""
        self.stop()
        return self.start()

    def __enter__(self) -> RestartableServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()


@contextlib.contextmanager
def restartable(
    engine: str, *, workdir: Path, env: Mapping[str, str], workers: int = CONTRACT_AEGRA_WORKERS
) -> Iterator[RestartableServer]:
    """`engine` on a fixed port, restartable in place (same working directory, hence the same state)."""
    with RestartableServer(lambda port: run_engine(engine, workdir=workdir, env=env, port=port, workers=workers)) as server:
        yield server
