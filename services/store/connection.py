"""Connecting to Redis.

Clients decode replies to `str`. redis-py's type stubs cannot know that and type every reply
as `bytes | str`, so the store passes the client around as `RedisClient` (Any) rather than
casting at every call.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

RedisClient = Any


def connect(url: str) -> RedisClient:
    return Redis.from_url(url, decode_responses=True, health_check_interval=30,
                          socket_connect_timeout=5, retry_on_timeout=True)
