"""A bounded thread pool that users share fairly: sandbox work never holds the server's own threads.

Docker's API is blocking, and a command's Docker calls last as long as the
command. Run through `asyncio.to_thread`, each one held a thread of asyncio's
default executor (cpu count + 4), which the server itself uses for its own
requests (the LangGraph runtime, authentication, our routes): a few long
commands of one user left the API answering nobody. So sandbox work runs here:

- a pool of its own, of `threads` threads, created on first use;
- a user holds at most `share` of them (never all: `share < threads`); past it
  the caller is refused at once (`refuse`) or waits for one of their own to end;
- when the pool is full, waiting callers get threads in arrival order, skipping
  only those whose user is at their share, so no user starves another.

Waiting holds no thread. The pool serves callers on any event loop (the LangGraph
runtime runs each run on a loop of its own); a waiter is woken on its own loop.
A slot is freed when the work really ends, not when its caller stops waiting,
so a cancelled call never lets the pool run more work than it has threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sandbox.coordination.process_state import sandbox_process


@dataclass(eq=False)
class _Waiter:
    """A caller waiting for a thread, woken on its own loop."""

    user: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] = field(repr=False)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FairPool:
    """`threads` threads for blocking work, of which one user holds at most `share` (see the module docstring)."""

    def __init__(self, name: str, *, threads: int, share: int, refuse: Callable[[str, int], Exception] | None = None) -> None:
        """`refuse(user, share)` builds the error for a user past their share; without it they wait instead."""
        if threads < 2:  # one thread could only ever serve one user
            msg = f"a fair pool needs at least 2 threads, not {threads}"
            raise ValueError(msg)
        self.name = name
        self.threads = threads
        self.share = max(1, min(share, threads - 1))
        """Most threads one user holds: their asked share, but never the whole pool."""
        self._refuse = refuse
        self.start_empty()
        sandbox_process().pools.add(self)

    def start_empty(self) -> None:
        """No threads, nothing held, nobody waiting: a new pool, or a forked child's copy."""
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self._busy = 0
        self._waiting: deque[_Waiter] = deque()
        self._executor: ThreadPoolExecutor | None = None
        self._last_active = time.monotonic()

    def held(self, user: str) -> int:
        """Threads `user` holds now (running work, or about to)."""
        with self._lock:
            return self._held[user]

    def busy(self) -> int:
        """Threads holding work now (running, or about to)."""
        with self._lock:
            return self._busy

    def idle_seconds(self) -> float:
        """Seconds since work last started or ended here, 0 while any runs: how long the pool has been quiet.

        Between two short commands nothing runs, so `busy()` alone cannot tell a lull
        from the end of a burst.
        """
        with self._lock:
            return 0.0 if self._busy else time.monotonic() - self._last_active

    def waiting(self) -> int:
        """Callers waiting for a thread now."""
        with self._lock:
            return len(self._waiting)

    async def run[**P, T](self, user: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on a thread of this pool as `user`, in a copy of the caller's context.

        Raises what `refuse` builds when `user` already holds (or waits for) their share.
        """
        await self._acquire(user)
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        try:
            done: Future[T] = self._pool().submit(call)
        except BaseException:
            self._release(user)
            raise
        done.add_done_callback(lambda _: self._release(user))
        return await asyncio.wrap_future(done)

    def shutdown(self) -> None:
        """Stop taking work; running work finishes on its threads."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name)
            return self._executor

    async def _acquire(self, user: str) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(user, loop, loop.create_future())
        with self._lock:
            mine = self._held[user] + sum(1 for w in self._waiting if w.user == user)
            if self._refuse is not None and mine >= self.share:
                raise self._refuse(user, self.share)
            self._waiting.append(waiter)
            self._grant()
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    raise
            self._release(user)  # granted while it was being cancelled: give the thread back
            raise

    def _release(self, user: str) -> None:
        with self._lock:
            self._held[user] -= 1
            if not self._held[user]:
                del self._held[user]
            self._busy -= 1
            self._last_active = time.monotonic()
            self._grant()

    def _grant(self) -> None:
        """Hand free threads to the earliest waiters whose user is under their share (lock held)."""
        while self._busy < self.threads:
            waiter = next((w for w in self._waiting if self._held[w.user] < self.share), None)
            if waiter is None:
                return
            self._waiting.remove(waiter)
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:  # its loop has closed: nobody waits there any more
                continue
            self._held[waiter.user] += 1
            self._busy += 1
            self._last_active = time.monotonic()
