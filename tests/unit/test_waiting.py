"""tests/waiting.py, the one polling helper: what it returns, and what a timeout says."""

from __future__ import annotations

import itertools

import pytest
from waiting import wait_until, wait_until_async


def test_returns_the_first_value_that_holds() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter), until=lambda n: n >= 3, timeout=10, interval=0,
                      what="three") == 3
    assert wait_until(lambda: [1], timeout=10, what="a list") == [1]


def test_a_timeout_names_what_was_awaited_and_the_last_value_seen() -> None:
    with pytest.raises(AssertionError) as failed:
        wait_until(lambda: {"status": "processing"}, until=lambda j: j["status"] != "processing",
                   timeout=0, what="job j1 to end", context=lambda: "log tail")
    assert str(failed.value) == "waited 0 s for job j1 to end; last seen: {'status': 'processing'}\nlog tail"


def test_the_predicate_s_own_failure_ends_the_wait_at_once() -> None:
    def died() -> bool:
        raise AssertionError("the process exited")

    with pytest.raises(AssertionError, match=r"^the process exited$"):
        wait_until(died, timeout=60, what="never")


async def test_the_async_twin_awaits_coroutines_and_takes_plain_callables() -> None:
    counter = itertools.count()

    async def probe() -> int:
        return next(counter)

    assert await wait_until_async(probe, until=lambda n: n == 2, timeout=10, interval=0, what="two") == 2
    assert await wait_until_async(lambda: "ready", timeout=10, what="plain") == "ready"
    with pytest.raises(AssertionError, match=r"^waited 0 s for nothing; last seen: None$"):
        await wait_until_async(lambda: None, timeout=0, what="nothing")
