"""The sessions one live process runs: capacity, the connect deadline, records, shutdown.

Drawing is CPU work and runs in a thread pool as wide as the machine (the numpy and OpenCV
calls release the GIL), so the event loop stays free for RTP and the pacing of every session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiortc import RTCConfiguration

from services.core import metrics
from services.live.registry import SessionRegistry
from services.live.session import LiveSession

T = TypeVar("T")


class SessionManager:
    def __init__(self, registry: SessionRegistry, rtc: RTCConfiguration, capacity: int,
                 threads: int | None = None) -> None:
        self.registry = registry
        self.rtc = rtc
        self.capacity = capacity
        self.executor = ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 2,
                                           thread_name_prefix="live")
        self._sessions: dict[str, LiveSession] = {}
        self._timers: set[asyncio.Task[None]] = set()

    def full(self) -> bool:
        return self.capacity > 0 and len(self._sessions) >= self.capacity

    def get(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def add(self, session: LiveSession, connect_seconds: float) -> None:
        self._sessions[session.id] = session
        timer = asyncio.ensure_future(self._expire(session, connect_seconds))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        self._count()

    async def _expire(self, session: LiveSession, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if session.status == "waiting":
            await session.end("expired")

    async def report(self, session: LiveSession) -> None:
        """Write the session's state to its record; forget it here once ended."""
        ended = session.status == "ended"
        fields = {"status": session.status, "seconds": round(session.seconds, 2),
                  "end_reason": session.end_reason, "fps": round(session.fps, 2),
                  "dropped": session.stats.dropped}
        if ended and self._sessions.pop(session.id, None) is not None:
            metrics.live_sessions_ended.labels(session.end_reason).inc()
        self._count()
        await self.registry.update(session.id, session.account, fields, ended=ended)

    def _count(self) -> None:
        for status in ("waiting", "live"):
            metrics.live_sessions.labels(status).set(
                sum(s.status == status for s in self._sessions.values()))

    async def close(self) -> None:
        """End every session (reason "shutdown") and stop the threads."""
        for timer in list(self._timers):
            timer.cancel()
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await session.end("shutdown")
        self.executor.shutdown(wait=False, cancel_futures=True)
