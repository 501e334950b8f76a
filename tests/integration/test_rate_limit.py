"""The request budget (GCRA in one Lua script) on a real Redis, with the clock driven by the test."""

from __future__ import annotations

import asyncio

import pytest

from services.store import keys
from services.store.connection import RedisClient
from services.store.ratelimit import RateLimiter

SECOND = 1_000_000  # µs
T0 = 1_700_000_000 * SECOND


async def test_a_fresh_key_may_burst_its_whole_budget_then_waits_one_interval(redis: RedisClient) -> None:
    limiter = RateLimiter(redis)
    answers = [await limiter.hit("k1", "submit", 6, now_us=T0) for _ in range(7)]
    assert [a.allowed for a in answers] == [True] * 6 + [False]
    assert [a.remaining for a in answers] == [5, 4, 3, 2, 1, 0, 0]
    assert answers[0].reset_seconds == pytest.approx(10)  # one interval (60 s / 6) used
    assert answers[5].reset_seconds == pytest.approx(60)
    refused = answers[6]
    assert refused.retry_after_seconds == pytest.approx(10) and refused.reset_seconds == pytest.approx(60)
    assert refused.limit == 6

    almost = await limiter.hit("k1", "submit", 6, now_us=T0 + 10 * SECOND - 1)
    assert not almost.allowed and almost.retry_after_seconds == pytest.approx(1e-6)
    again = await limiter.hit("k1", "submit", 6, now_us=T0 + 10 * SECOND)
    assert again.allowed and again.remaining == 0
    assert not (await limiter.hit("k1", "submit", 6, now_us=T0 + 10 * SECOND)).allowed


async def test_no_double_burst_across_a_window_edge(redis: RedisClient) -> None:
    """A fixed window would let 2x the limit through around its edge; this budget refills
    smoothly, so half a minute after a full burst only half the budget is back."""
    limiter = RateLimiter(redis)
    for _ in range(10):
        assert (await limiter.hit("k2", "read", 10, now_us=T0)).allowed
    later = [await limiter.hit("k2", "read", 10, now_us=T0 + 30 * SECOND) for _ in range(10)]
    assert sum(a.allowed for a in later) == 5


async def test_an_idle_minute_restores_the_whole_budget(redis: RedisClient) -> None:
    limiter = RateLimiter(redis)
    for _ in range(4):
        await limiter.hit("k3", "read", 3, now_us=T0)
    fresh = await limiter.hit("k3", "read", 3, now_us=T0 + 61 * SECOND)
    assert fresh.allowed and fresh.remaining == 2


async def test_keys_and_budgets_are_separate(redis: RedisClient) -> None:
    limiter = RateLimiter(redis)
    assert (await limiter.hit("a", "submit", 1, now_us=T0)).allowed
    assert not (await limiter.hit("a", "submit", 1, now_us=T0)).allowed
    assert (await limiter.hit("a", "read", 1, now_us=T0)).allowed
    assert (await limiter.hit("b", "submit", 1, now_us=T0)).allowed


async def test_the_server_clock_and_expiry(redis: RedisClient) -> None:
    limiter = RateLimiter(redis)
    first = await limiter.hit("k4", "read", 120, now_us=None)
    assert first.allowed and first.remaining == 119
    # The key lives only as long as it matters: until the budget would be full again.
    assert 0 < await redis.pttl(keys.rate_limit("k4", "read")) <= 500
    with pytest.raises(ValueError):
        await limiter.hit("k4", "read", 0)


async def test_concurrent_hits_never_overspend(redis: RedisClient) -> None:
    limiter = RateLimiter(redis)
    answers = await asyncio.gather(*(limiter.hit("k5", "submit", 10) for _ in range(50)))
    assert sum(a.allowed for a in answers) == 10
