"""The render queue: a Redis stream read by the workers' consumer group (`streams.py` holds
the mechanism; a finished job's entry is deleted)."""

from __future__ import annotations

from services.store import keys
from services.store.connection import RedisClient
from services.store.streams import StreamConsumer, StreamEntry

Entry = StreamEntry


class JobQueue(StreamConsumer):
    def __init__(self, redis: RedisClient, stream: str = keys.JOB_QUEUE,
                 group: str = keys.WORKER_GROUP) -> None:
        super().__init__(redis, stream, group, delete_on_ack=True)
