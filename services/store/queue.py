"""The render queue: a Redis stream read by the workers' consumer group.

An entry stays pending until its worker acknowledges it, after the job has ended. A worker that
dies leaves its entries pending; once they have been idle `min_idle` seconds, another worker
takes them over with XAUTOCLAIM. A worker busy on a long render touches its entries now and
then (`heartbeat`) so they never look abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import ResponseError

from services.store import keys
from services.store.connection import RedisClient


@dataclass(frozen=True)
class Entry:
    entry_id: str
    job_id: str


class JobQueue:
    def __init__(self, redis: RedisClient, stream: str = keys.JOB_QUEUE,
                 group: str = keys.WORKER_GROUP) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int = 1, block_ms: int = 1000) -> list[Entry]:
        """New entries for `consumer` (waits up to `block_ms`)."""
        reply = await self.redis.xreadgroup(self.group, consumer, {self.stream: ">"},
                                            count=count, block=block_ms)
        return [Entry(entry_id, fields.get("job", "")) for _, items in reply or []
                for entry_id, fields in items]

    async def reclaim(self, consumer: str, min_idle: float, count: int = 1) -> list[Entry]:
        """Entries other consumers left idle for `min_idle` seconds, now `consumer`'s."""
        reply = await self.redis.xautoclaim(self.stream, self.group, consumer,
                                            min_idle_time=int(min_idle * 1000), start_id="0-0",
                                            count=count)
        claimed = reply[1] if len(reply) > 1 else []
        return [Entry(entry_id, fields.get("job", "")) for entry_id, fields in claimed if fields]

    async def heartbeat(self, consumer: str, entry_id: str) -> None:
        await self.redis.xclaim(self.stream, self.group, consumer, min_idle_time=0,
                                message_ids=[entry_id], justid=True)

    async def ack(self, entry_id: str) -> None:
        await self.redis.xack(self.stream, self.group, entry_id)
        await self.redis.xdel(self.stream, entry_id)

    async def depth(self) -> tuple[int, int]:
        """(entries waiting to be read, entries being worked on)."""
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return 0, 0
        for g in groups:
            if g["name"] == self.group:
                return int(g.get("lag") or 0), int(g.get("pending") or 0)
        return 0, 0
