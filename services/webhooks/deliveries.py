"""Webhook deliveries kept in Redis, so a dispatcher that stops or dies loses none of them.

- a delivery: the hash `webhook_delivery(id)` (job, url, account, the body to send, state,
  attempts made, when the next one is due). Its id is `msg_<job id>`: one delivery per job, so
  writing it twice (an event read again after a crash) changes nothing.
- the schedule: the zset WEBHOOK_SCHEDULE, delivery id -> when to try next, pending ones only.
- the attempts: the list `webhook_attempts(id)`, one JSON record per attempt.

Sending an attempt is claimed first: one script moves the delivery's due time a lease into the
future and stamps it with a token. Two dispatchers never send the same attempt at once, and a
dispatcher that dies mid-send leaves the delivery due again when the lease runs out. Only the
holder of the token can record the attempt's outcome.

Every step that touches more than one key is one Lua script, so it happens whole or not at all.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from enum import StrEnum

from services.store import keys
from services.store.connection import RedisClient


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    id: str
    job: str
    url: str
    account: str
    body: str  # the job JSON, fixed when the job finished: every retry sends the same bytes
    state: DeliveryState
    attempts: int
    next_at: float | None
    created_at: float
    finished_at: float | None

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Delivery:
        return cls(id=h["id"], job=h["job"], url=h["url"], account=h["account"], body=h["body"],
                   state=DeliveryState(h["state"]), attempts=int(h.get("attempts") or 0),
                   next_at=float(h["next_at"]) if h.get("next_at") else None,
                   created_at=float(h.get("created_at") or 0),
                   finished_at=float(h["finished_at"]) if h.get("finished_at") else None)


@dataclass(frozen=True)
class Claim:
    """The right to make the next attempt of a delivery, until the lease ends."""

    delivery: Delivery
    token: str

    @property
    def attempt(self) -> int:
        return self.delivery.attempts + 1


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    at: float  # epoch seconds when the attempt began
    duration_ms: int
    status: int | None  # the receiver's HTTP status, if it answered
    error: str  # why it failed without an answer ("" otherwise)
    result: str  # an AttemptResult (services.core.vocabulary)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AttemptRecord:
        return cls(**json.loads(text))


def delivery_id(job_id: str) -> str:
    return "msg_" + job_id.replace("-", "")


# KEYS: delivery, schedule, events. ARGV: id, group, event entry id or "", due at, field/value pairs.
_CREATE = """
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  local fields = {}
  for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[1])
  created = 1
end
if ARGV[3] ~= '' then redis.call('XACK', KEYS[3], ARGV[2], ARGV[3]) end
return created
"""

# KEYS: schedule, delivery. ARGV: id, now, lease until, token.
_CLAIM = """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return false end
if redis.call('HGET', KEYS[2], 'state') ~= 'pending' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], 'lease', ARGV[4])
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: delivery, attempts, schedule. ARGV: id, token, attempt JSON, new state, next due, now,
# seconds to keep a finished delivery.
_RECORD = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HDEL', KEYS[1], 'lease')
redis.call('HSET', KEYS[1], 'state', ARGV[4])
if ARGV[4] == 'pending' then
  redis.call('HSET', KEYS[1], 'next_at', ARGV[5])
  redis.call('ZADD', KEYS[3], tonumber(ARGV[5]), ARGV[1])
else
  redis.call('HSET', KEYS[1], 'next_at', '', 'finished_at', ARGV[6])
  redis.call('ZREM', KEYS[3], ARGV[1])
  local keep = tonumber(ARGV[7])
  if keep > 0 then
    redis.call('EXPIRE', KEYS[1], keep)
    redis.call('EXPIRE', KEYS[2], keep)
  end
end
return 1
"""

# KEYS: delivery, schedule. ARGV: id, token, due at. Give a claim back without an attempt.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'lease')
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
return 1
"""


class DeliveryStore:
    def __init__(self, redis: RedisClient, retention_seconds: int = 7 * 24 * 3600) -> None:
        self.redis = redis
        self.retention_seconds = retention_seconds
        self._create = redis.register_script(_CREATE)
        self._claim = redis.register_script(_CLAIM)
        self._record = redis.register_script(_RECORD)
        self._release = redis.register_script(_RELEASE)

    async def create(self, job_id: str, url: str, account: str, body: str, now: float,
                     event: tuple[str, str] | None = None) -> bool:
        """Record the job's delivery, due `now`, unless it exists; then acknowledge `event`
        ((group, entry id) on JOB_EVENTS) in the same step. True if it was new."""
        did = delivery_id(job_id)
        fields = {"id": did, "job": job_id, "url": url, "account": account, "body": body,
                  "state": DeliveryState.PENDING.value, "attempts": 0, "next_at": now,
                  "created_at": now}
        flat = [str(v) for pair in fields.items() for v in pair]
        group, entry = event or ("", "")
        created = await self._create(
            keys=[keys.webhook_delivery(did), keys.WEBHOOK_SCHEDULE, keys.JOB_EVENTS],
            args=[did, group, entry, now, *flat])
        return bool(created)

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of deliveries due by `now`, soonest first (not yet claimed)."""
        if limit <= 0:
            return []
        ids: list[str] = await self.redis.zrangebyscore(keys.WEBHOOK_SCHEDULE, "-inf", now,
                                                        start=0, num=limit)
        return ids

    async def next_due(self) -> float | None:
        first = await self.redis.zrange(keys.WEBHOOK_SCHEDULE, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def claim(self, did: str, now: float, lease_seconds: float) -> Claim | None:
        """The next attempt of `did`, if it is still due and nobody else claimed it."""
        token = secrets.token_hex(8)
        flat = await self._claim(keys=[keys.WEBHOOK_SCHEDULE, keys.webhook_delivery(did)],
                                 args=[did, now, now + lease_seconds, token])
        if not flat:
            return None
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        return Claim(Delivery.from_hash(h), token)

    async def record(self, claim: Claim, attempt: AttemptRecord, state: DeliveryState,
                     next_at: float | None, now: float) -> bool:
        """Store an attempt and what follows it (due again at `next_at`, or finished).
        False if the claim had been lost, and nothing was stored."""
        did = claim.delivery.id
        done = await self._record(
            keys=[keys.webhook_delivery(did), keys.webhook_attempts(did), keys.WEBHOOK_SCHEDULE],
            args=[did, claim.token, attempt.to_json(), state.value,
                  "" if next_at is None else next_at, now, self.retention_seconds])
        return bool(done)

    async def release(self, claim: Claim, now: float) -> bool:
        """Give an unsent claim back, due at once."""
        did = claim.delivery.id
        done = await self._release(keys=[keys.webhook_delivery(did), keys.WEBHOOK_SCHEDULE],
                                   args=[did, claim.token, now])
        return bool(done)

    async def get(self, did: str) -> Delivery | None:
        h = await self.redis.hgetall(keys.webhook_delivery(did))
        return Delivery.from_hash(h) if h else None

    async def attempts(self, did: str) -> list[AttemptRecord]:
        items = await self.redis.lrange(keys.webhook_attempts(did), 0, -1)
        return [AttemptRecord.from_json(item) for item in items]
