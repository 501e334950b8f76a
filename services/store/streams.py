"""One consumer group on one Redis stream: the single mechanism behind the render queue
(workers) and the job events that webhook dispatchers turn into deliveries.

An entry stays pending until its consumer acknowledges it. A consumer that dies leaves its
entries pending; once they have been idle `min_idle` seconds another consumer of the group takes
them over (XAUTOCLAIM). A consumer busy on a long piece of work touches its entry now and then
(`heartbeat`) so it never looks abandoned.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from redis.exceptions import RedisError, ResponseError

from services.store.connection import RedisClient


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    fields: dict[str, str]

    @property
    def job_id(self) -> str:
        """Both streams name the job an entry is about in its `job` field."""
        return self.fields.get("job", "")


class StreamConsumer:
    def __init__(self, redis: RedisClient, stream: str, group: str, delete_on_ack: bool = False) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        # A work queue deletes what is done; an event stream keeps it for its other readers.
        self.delete_on_ack = delete_on_ack

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int = 1, block_ms: int = 1000) -> list[StreamEntry]:
        """New entries for `consumer` (waits up to `block_ms`)."""
        reply = await self.redis.xreadgroup(self.group, consumer, {self.stream: ">"},
                                            count=count, block=block_ms)
        return [StreamEntry(entry_id, fields or {}) for _, items in reply or []
                for entry_id, fields in items]

    async def reclaim(self, consumer: str, min_idle: float, count: int = 1) -> list[StreamEntry]:
        """Entries other consumers left idle for `min_idle` seconds, now `consumer`'s. Entries
        deleted meanwhile come back empty and are dropped (Redis forgets them too)."""
        reply = await self.redis.xautoclaim(self.stream, self.group, consumer,
                                            min_idle_time=int(min_idle * 1000), start_id="0-0",
                                            count=count)
        claimed = reply[1] if len(reply) > 1 else []
        return [StreamEntry(entry_id, fields) for entry_id, fields in claimed if fields]

    async def heartbeat(self, consumer: str, entry_id: str) -> None:
        await self.redis.xclaim(self.stream, self.group, consumer, min_idle_time=0,
                                message_ids=[entry_id], justid=True)

    async def ack(self, entry_id: str) -> None:
        await self.redis.xack(self.stream, self.group, entry_id)
        if self.delete_on_ack:
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

    async def forget(self, consumer: str) -> None:
        """Leave the group tidy; a consumer still holding entries keeps them for a takeover."""
        with contextlib.suppress(RedisError):
            for info in await self.redis.xinfo_consumers(self.stream, self.group):
                if info.get("name") == consumer and int(info.get("pending", 0)) == 0:
                    await self.redis.xgroup_delconsumer(self.stream, self.group, consumer)
