"""Stack helpers shared by the test folders (fixtures are in conftest.py beside this file)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from waiting import wait_until_async

from services.store.accounts import AccountStore, NewKey
from services.store.connection import RedisClient, connect
from services.store.jobs import JobRecord, JobStore, Status


def new_keys(redis_url: str, n: int, credits: int, name: str) -> list[NewKey]:
    """`n` keys, each on an account of its own (no two share a rate limit or a job cap), made
    straight in the Redis of a running stack, from synchronous code."""
    async def create() -> list[NewKey]:
        client = connect(redis_url)
        try:
            store = AccountStore(client)
            return [await store.create_key(f"{name}-{i}", credits) for i in range(n)]
        finally:
            await client.aclose()

    return asyncio.run(create())


@contextlib.asynccontextmanager
async def serving_http(app: ASGIApp, port: int, **config: Any) -> AsyncIterator[uvicorn.Server]:
    """`app` under uvicorn on 127.0.0.1:`port` in this event loop, from started to stopped."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           **config))
    serving = asyncio.ensure_future(server.serve())

    async def started() -> bool:
        if serving.done():
            serving.result()  # raises why it could not start
            raise AssertionError(f"uvicorn on port {port} ended before it started")
        return bool(server.started)

    try:
        await wait_until_async(started, timeout=30, interval=0.02, what=f"uvicorn on port {port}")
        yield server
    finally:
        server.should_exit = True
        await serving


async def job_ended(redis: RedisClient, job_id: str, timeout: float = 60.0) -> JobRecord:
    """The job's record once it is no longer processing."""
    return await wait_until_async(lambda: JobStore(redis).get(job_id),
                                  until=lambda job: job.status != Status.PROCESSING,
                                  timeout=timeout, what=f"job {job_id} to end")
