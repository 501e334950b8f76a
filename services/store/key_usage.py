"""What each API key has been used for: requests, last use, credits spent (the console's key list).

Requests and the last use are counted when the job service authenticates a call (one pipelined
round trip, no transaction: a count is a statistic, not money). Credits are added by the job
store's finish script in the same step that charges the job, so they match the bill exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.store import keys
from services.store.connection import RedisClient


@dataclass(frozen=True)
class KeyUsage:
    requests: int
    last_used: float | None
    credits_spent: int


class KeyUsageStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def record_request(self, key_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(keys.api_key(key_id), "requests", 1)
            pipe.hset(keys.api_key(key_id), "last_used", time.time())
            await pipe.execute()


def usage_of(record: dict[str, str]) -> KeyUsage:
    """The usage fields of a key's hash."""
    last = record.get("last_used")
    return KeyUsage(int(record.get("requests") or 0), float(last) if last else None,
                    int(record.get("credits_spent") or 0))
