"""Stack helpers shared by the test folders (fixtures are in conftest.py beside this file)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
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


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Serves a folder's files, without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_folder(folder: Path, handler: type[http.server.SimpleHTTPRequestHandler] = QuietFiles,
                   ) -> Iterator[str]:
    """`folder` served over loopback HTTP (as a job's inputs are fetched) until the block ends;
    yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(handler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def job_ended(redis: RedisClient, job_id: str, timeout: float = 60.0) -> JobRecord:
    """The job's record once it is no longer processing."""
    return await wait_until_async(lambda: JobStore(redis).get(job_id),
                                  until=lambda job: job.status != Status.PROCESSING,
                                  timeout=timeout, what=f"job {job_id} to end")
