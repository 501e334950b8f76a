"""The one way tests wait for something: poll a predicate until it holds, or fail saying what was
awaited and what was last seen.

    wait_until(lambda: job_id in receiver.delivered(), timeout=30, what="the webhook")
    job = wait_until(lambda: client.job(job_id), until=lambda j: j["status"] != "processing",
                     timeout=60, what=f"job {job_id} to end")
    delivery = await wait_until_async(lambda: store.get(did), timeout=10, what="the delivery record")

What ends the wait is returned: the predicate's truthy value, or, with `until`, the first value
of the probe that satisfies it (and the failure shows the last value probed, a whole job rather
than `False`). An AssertionError raised by the predicate itself (a process that died, a refused
request) ends the wait at once: that failure says more than a timeout would. Timeouts are
generous bounds on how long a working system may take, never a measure of its speed.

Absences are checked after a positive signal, never after a sleep: wait for something that must
happen after the thing that must not have happened, then look.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

INTERVAL = 0.05
_SHOWN = 2000  # characters of the last value shown in a failure


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str,
               until: Callable[[T], object] = bool, interval: float = INTERVAL,
               context: Callable[[], object] | None = None) -> T:
    """Call `predicate` every `interval` seconds until `until` holds for what it returns (by
    default: until that is truthy); return that value.

    Fails with an AssertionError naming `what` and the last value seen after `timeout` seconds;
    `context` (called only then) adds what else helps to tell why, such as a process's log."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(what, timeout, value, context))
        time.sleep(interval)


@overload
async def wait_until_async(predicate: Callable[[], Awaitable[T]], *, timeout: float, what: str,
                           until: Callable[[T], object] = ..., interval: float = ...,
                           context: Callable[[], object] | None = ...) -> T: ...


@overload
async def wait_until_async(predicate: Callable[[], T], *, timeout: float, what: str,
                           until: Callable[[T], object] = ..., interval: float = ...,
                           context: Callable[[], object] | None = ...) -> T: ...


async def wait_until_async(predicate: Callable[[], Any], *, timeout: float, what: str,
                           until: Callable[[Any], object] = bool, interval: float = INTERVAL,
                           context: Callable[[], object] | None = None) -> Any:
    """`wait_until` in a coroutine: the event loop runs on between tries, and a predicate that
    returns an awaitable (a coroutine function's) is awaited."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        value = await found if inspect.isawaitable(found) else found
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(what, timeout, value, context))
        await asyncio.sleep(interval)


def _timed_out(what: str, timeout: float, last: object, context: Callable[[], object] | None) -> str:
    shown = repr(last)
    if len(shown) > _SHOWN:
        shown = shown[:_SHOWN] + "..."
    message = f"waited {timeout:g} s for {what}; last seen: {shown}"
    if context is not None:
        message += f"\n{context()}"
    return message
