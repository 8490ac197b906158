"""Live command output: where a running command's output goes while it is produced.

The backend is not told which tool call it serves, so whoever runs it (the
agent's live-output middleware) puts a *sink* in `live_output_sink` for the
duration of the call; the backend reads it when a command starts. The sandbox
knows nothing about stream events: a sink is just "send this text somewhere".

`LiveOutput` sits between the Docker stream and the sink and coalesces: at most
one event per `interval` seconds (the first chunk goes out at once) and at most
`max_event_bytes` per event. Bytes beyond that are dropped from the live view
with an in-band note; the command's result (tool message, offload file) keeps
them. So a flood cannot flood the client or the server, whatever it prints.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

LiveSink = Callable[[str], None]
"""Receives one coalesced chunk of a command's output (text, never empty)."""

live_output_sink: contextvars.ContextVar[LiveSink | None] = contextvars.ContextVar("sandbox_live_output_sink", default=None)
"""The sink of the tool call being served, set by the caller around a backend call."""

EVENT_INTERVAL_SECONDS = 0.1
"""At most one live event per this many seconds per command (10 per second)."""

MAX_EVENT_BYTES = 64 * 1024
"""At most this many bytes of output per live event; the rest of a burst is skipped live."""


@contextlib.contextmanager
def streaming_to(sink: LiveSink | None) -> Iterator[None]:
    """Make `sink` receive the live output of commands run inside this block (this context only)."""
    token = live_output_sink.set(sink)
    try:
        yield
    finally:
        live_output_sink.reset(token)


class LiveOutput:
    """Coalesces a command's output bytes into bounded text events for a sink.

    `feed` is called by the thread reading Docker's stream and never blocks on
    the sink; a small flusher thread delivers. The sink runs inside a copy of
    the context that was current when this object was built (the tool call's),
    so sinks that read context variables (LangGraph's stream writers) work from
    the flusher thread too.
    """

    def __init__(
        self,
        sink: LiveSink,
        *,
        interval: float = EVENT_INTERVAL_SECONDS,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self._sink = sink
        self._context = contextvars.copy_context()
        self._interval = interval
        self._max_event_bytes = max_event_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = bytearray()
        self._skipped = 0
        self._closed = False
        self._broken = False
        self._wake = threading.Condition()
        self._last_event = 0.0
        self.events = 0
        """Events delivered so far (tests and benchmarks read it)."""
        self._thread = threading.Thread(target=self._run, name="sandbox-live-output", daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        """Queue output bytes; beyond one event's worth, count them as skipped."""
        if not data or self._broken:
            return
        with self._wake:
            room = self._max_event_bytes - len(self._pending)
            if room > 0:
                self._pending += data[:room]
            self._skipped += max(0, len(data) - max(room, 0))
            self._wake.notify()

    def close(self) -> None:
        """Deliver what is pending and stop; returns once the last event went out."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def __enter__(self) -> LiveOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._skipped and not self._closed:
                    self._wake.wait()
                if not self._pending and not self._skipped:
                    return
                # Let the burst gather until the next event is due; `close` ends the wait.
                due = self._last_event + self._interval
                while not self._closed and (wait := due - time.monotonic()) > 0:
                    self._wake.wait(wait)
                data, skipped = bytes(self._pending), self._skipped
                self._pending.clear()
                self._skipped = 0
            self._deliver(data, skipped)

    def _deliver(self, data: bytes, skipped: int) -> None:
        text = self._decoder.decode(data)
        if skipped:
            self._decoder.reset()  # the next bytes may start mid-character
            text += f"\n[... {skipped} bytes not shown live; the tool result has the output ...]\n"
        self._last_event = time.monotonic()
        if not text or self._broken:
            return
        try:
            self._context.run(self._sink, text)
            self.events += 1
        except Exception:  # a broken client stream must never break the command
            logger.exception("Live output sink failed; the rest of this command's output is not streamed")
            self._broken = True
