"""Progress from a render thread, handed to the event loop at a bounded rate.

The engine reports every few frames from the thread it renders in; Redis writes and gRPC
messages belong to the event loop. `ProgressRelay` is the engine's `progress(fraction, stage)`
callback: it drops updates closer than `interval` apart (the last one always passes) and runs
`sink` on the loop. It is also how a render is stopped early: when `should_stop()` turns true,
the next report raises `RenderAborted` inside the render thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

Sink = Callable[[float, str], None]


class RenderAborted(Exception):
    """The render was stopped on purpose (worker shutting down, job canceled, client gone)."""


class ProgressRelay:
    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Sink, interval: float = 0.25,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self._loop = loop
        self._sink = sink
        self._interval = interval
        self._should_stop = should_stop
        self._last = -math.inf

    def __call__(self, fraction: float, stage: str) -> None:
        """Called from the render thread."""
        if self._should_stop():
            raise RenderAborted("render stopped")
        now = time.monotonic()
        if now - self._last < self._interval and fraction < 1.0:
            return
        self._last = now
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self._loop.call_soon_threadsafe(self._sink, fraction, stage)
