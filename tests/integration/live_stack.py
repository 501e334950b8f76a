"""The proxy under uvicorn on a loopback port, in front of the real job service (gRPC on another)
and a real redis-server, in this process; no worker: tests move jobs through the store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from stacks import serving_http

from proxy.app import create_app
from proxy.event_stream import KEEPALIVE_SECONDS
from services.core.settings import Secret, Settings
from services.devtools.redis_server import RedisServer, free_port
from services.jobs.server import create_server
from services.store.accounts import AccountStore, NewKey
from services.store.connection import RedisClient
from services.store.jobs import JobStore

FORM = {"image": "https://example.com/face.png", "audio": "https://example.com/a.mp3"}


@dataclass
class Live:
    base_url: str
    client: httpx.AsyncClient
    redis: RedisClient
    store: JobStore

    async def key(self, credits: int = 1000) -> NewKey:
        return await AccountStore(self.redis).create_key("live", credits)

    async def auth(self, credits: int = 1000) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.key(credits)).api_key}"}

    async def submit(self, headers: dict[str, str]) -> str:
        reply = await self.client.post("/api/v1/lipsync-image", headers=headers, json={"formState": FORM})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["id"])


@contextlib.asynccontextmanager
async def serve_live(redis_server: RedisServer, redis: RedisClient, data_dir: Path, *,
                     keepalive: float = KEEPALIVE_SECONDS, **settings: Any) -> AsyncIterator[Live]:
    config = Settings(redis_url=redis_server.url, public_url="http://127.0.0.1", data_dir=data_dir,
                      signing_key=Secret("k"), **settings)
    server, port = create_server("127.0.0.1:0", config, redis)
    await server.start()
    app = create_app(config.with_(jobs_addr=f"127.0.0.1:{port}"), keepalive=keepalive)
    http_port = free_port()
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        async with serving_http(app, http_port), httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield Live(base_url, client, redis, JobStore(redis))
    finally:
        await server.stop(None)
