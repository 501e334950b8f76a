"""Per-key request budgets: `limit` requests a minute, refilled smoothly, one Redis key each.

The algorithm is GCRA (the generic cell rate algorithm, as redis-cell and many gateways use it):
the key holds the budget's "theoretical arrival time" (TAT). Each request moves it one emission
interval (`period / limit`) into the future; a request is refused when that would put the TAT
more than one period ahead of now. So a fresh key may burst `limit` requests at once, and then
gets one more every interval: a sliding window without a fixed window's double burst at its
edges, in one key and one script call (atomic, one round trip).

Time is the Redis server's (`TIME`), so every job service replica shares one clock; tests pass
`now_us` to drive it. Everything is in integer microseconds: epoch µs fit a Lua double exactly.

Written here: the Python rate limiters on PyPI count in process memory or in fixed windows; the
shared, atomic, smooth budget every replica must agree on is this one short Lua script, and
redis-cell (the module that implements GCRA) cannot be loaded into a managed Redis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.store import keys
from services.store.connection import RedisClient

PERIOD_SECONDS = 60

# KEYS: the budget. ARGV: period µs, limit, now µs ("" for the server's clock).
# Returns {allowed 0|1, remaining, µs until the budget is full again, µs until the next request may pass}.
_GCRA = """
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = math.floor(period / limit)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.min(limit - 1, math.floor((period - (new_tat - now)) / interval)), new_tat - now, 0}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int  # requests that would pass right now, after this one
    reset_seconds: float  # until the whole budget is back
    retry_after_seconds: float  # until the next request may pass (0 when this one passed)

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The budget as `X-RateLimit-*` values (whole seconds, rounded up)."""
        return (("x-ratelimit-limit", str(self.limit)),
                ("x-ratelimit-remaining", str(self.remaining)),
                ("x-ratelimit-reset", str(math.ceil(self.reset_seconds))))


class RateLimiter:
    def __init__(self, redis: RedisClient) -> None:
        self._script = redis.register_script(_GCRA)

    async def hit(self, key_id: str, bucket: str, per_minute: int,
                  now_us: int | None = None) -> RateDecision:
        """Count one request of `key_id` against its `bucket` budget of `per_minute` (> 0)."""
        if per_minute <= 0:
            raise ValueError("a budget needs a positive limit")
        allowed, remaining, reset_us, retry_us = await self._script(
            keys=[keys.rate_limit(key_id, bucket)],
            args=[PERIOD_SECONDS * 1_000_000, per_minute, "" if now_us is None else now_us])
        return RateDecision(bool(allowed), per_minute, int(remaining), int(reset_us) / 1e6,
                            int(retry_us) / 1e6)
