"""Per-key request budgets, charged on every authenticated JobService call.

Two budgets per API key: submits (each may start a render) and everything else (polling,
listing, the account, cancels), which a client polling its jobs every few seconds spends far
faster. A budget is charged only after the key is verified, so nobody can spend another's.

The budget goes back to the caller as initial metadata (`x-ratelimit-limit`, `-remaining`,
`-reset`, the last in seconds until the whole budget is back) on every answer, errors included;
the proxy turns it into `X-RateLimit-*` headers. A spent budget is RESOURCE_EXHAUSTED with
RetryInfo (the proxy's 429 and `Retry-After`).
"""

from __future__ import annotations

import math
from enum import StrEnum

import grpc

from services.core.errors import RateLimited
from services.core.settings import Settings
from services.store.connection import RedisClient
from services.store.key_usage import KeyUsageStore
from services.store.ratelimit import RateLimiter


class Budget(StrEnum):
    SUBMIT = "submit"
    READ = "read"


class RequestBudgets:
    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.per_minute = {Budget.SUBMIT: settings.rate_limit_submit_per_minute,
                           Budget.READ: settings.rate_limit_read_per_minute}
        self.limiter = RateLimiter(redis)
        self.usage = KeyUsageStore(redis)

    async def charge(self, context: grpc.aio.ServicerContext, key_id: str, budget: Budget) -> None:
        """Count the call against `key_id`'s budget; RateLimited when it is spent. Every call
        also counts as the key's use (the console's requests and last-used columns)."""
        await self.usage.record_request(key_id)
        limit = self.per_minute[budget]
        if limit <= 0:
            return  # this budget is switched off
        decision = await self.limiter.hit(key_id, budget.value, limit)
        await context.send_initial_metadata(decision.headers())
        if not decision.allowed:
            wait = decision.retry_after_seconds
            noun = "job submissions" if budget is Budget.SUBMIT else "requests other than submissions"
            raise RateLimited(f"Rate limit reached: this API key may make {limit} {noun} a minute; "
                              f"retry in {max(1, math.ceil(wait))} s", retry_after=wait)
