"""Live sessions in Redis: their records, the per-account cap, and per-second billing.

The session itself (the peer, the render) lives in one live process; its record lives here, so
`GET` works from any replica and after the end, the per-account cap counts sessions on every
replica, and credits move in the same store (and the same hash) the job service uses.

A record is a hash; the account's running sessions are a zset scored by heartbeat, so a
session whose process died stops counting towards the cap after `STALE_SECONDS`.
"""

from __future__ import annotations

import time
from typing import Any

from services.core.errors import InsufficientCredits, NotFound, RateLimited
from services.store import keys
from services.store.connection import RedisClient

STALE_SECONDS = 15.0  # no heartbeat this long: the session is gone (its process died)
ENDED_TTL = 7 * 24 * 3600  # an ended session's record stays readable this long

# KEYS: account's live zset, account hash. ARGV: id, now, stale before, cap, minimum credits.
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if tonumber(ARGV[4]) > 0 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
local credits = tonumber(redis.call('HGET', KEYS[2], 'credits') or '0')
if credits < tonumber(ARGV[5]) then
  return -2
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""
# KEYS: account hash, session hash. ARGV: credits. Takes them only if they are all there.
_CHARGE = """
local credits = tonumber(redis.call('HGET', KEYS[1], 'credits') or '0')
if credits < tonumber(ARGV[1]) then
  return -1
end
redis.call('HINCRBY', KEYS[1], 'credits', -tonumber(ARGV[1]))
return redis.call('HINCRBY', KEYS[2], 'credits', tonumber(ARGV[1]))
"""


def session_key(session_id: str) -> str:
    return f"{keys.PREFIX}:live:{session_id}"


def account_sessions(account_id: str) -> str:
    """zset: the account's running live sessions -> last heartbeat (epoch s)."""
    return f"{keys.PREFIX}:account:{account_id}:live"


class SessionRegistry:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._open = redis.register_script(_OPEN)
        self._charge = redis.register_script(_CHARGE)

    async def open(self, session_id: str, account: str, record: dict[str, Any], cap: int,
                   minimum_credits: int) -> None:
        """Count the session against the account's cap and record it; TooMany/402 otherwise."""
        now = time.time()
        result = int(await self._open(
            keys=[account_sessions(account), keys.account(account)],
            args=[session_id, now, now - STALE_SECONDS, cap, minimum_credits]))
        if result == -1:
            raise RateLimited(f"This account already has {cap} live sessions running: end one "
                              "(DELETE /api/v1/live/{id}) first", retry_after=STALE_SECONDS)
        if result == -2:
            raise InsufficientCredits(f"A live session needs at least {minimum_credits} credits "
                                      "(its first 5 seconds) on the account")
        await self.redis.hset(session_key(session_id), mapping={**record, "account": account,
                                                                "credits": 0})

    async def get(self, session_id: str, account: str) -> dict[str, str]:
        """The account's session record; NotFound for unknown ids and other accounts' alike."""
        record: dict[str, str] = await self.redis.hgetall(session_key(session_id))
        if not record or record.get("account") != account:
            raise NotFound(f"No live session {session_id}")
        return record

    async def charge(self, session_id: str, account: str, credits: int) -> bool:
        return int(await self._charge(keys=[keys.account(account), session_key(session_id)],
                                      args=[credits])) >= 0

    async def update(self, session_id: str, account: str, fields: dict[str, Any],
                     ended: bool = False) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key(session_id), mapping=fields)
            if ended:
                pipe.zrem(account_sessions(account), session_id)
                pipe.expire(session_key(session_id), ENDED_TTL)
            else:
                pipe.zadd(account_sessions(account), {session_id: time.time()})
            await pipe.execute()
