"""The job service and the proxy app in one background thread with its own event loop, serving
real HTTP on loopback, for synchronous tests (schemathesis drives `requests`).

Unlike `ProcessStack`, neither the webhook role nor a worker runs: generated
requests may name any host, and nothing here may ever look one up or connect to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType

from stacks import serving_http

from proxy.app import create_app
from services.core.settings import Secret, Settings
from services.devtools.redis_server import RedisServer, free_port
from services.jobs.server import create_server
from services.live.server import create_live_server
from services.net.fetch import FetchError
from services.store.connection import connect


async def refuse_fetch(url: str, *args: object, **kwargs: object) -> Path:
    raise FetchError("Inputs are not fetched in this test stack")


class ThreadedStack:
    def __init__(self, data_dir: Path) -> None:
        self.redis = RedisServer(data_dir / "redis")
        self.port = free_port()
        self.data_dir = data_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="threaded-stack", daemon=True)
        self._serving = contextlib.AsyncExitStack()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedStack:
        self.redis.start()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self.redis.stop()

    async def _start(self) -> None:
        settings = Settings(redis_url=self.redis.url, public_url=self.base_url, data_dir=self.data_dir,
                            signing_key=Secret("threaded-stack"))
        self._redis_client = connect(self.redis.url)
        self._grpc, grpc_port = create_server("127.0.0.1:0", settings, self._redis_client)
        await self._grpc.start()
        # The live role too; it refuses to fetch any portrait (nothing here may reach a host).
        self._live, live_port, self._live_sessions, _ = create_live_server(
            "127.0.0.1:0", settings, self._redis_client, fetch=refuse_fetch)
        await self._live.start()
        settings = settings.with_(jobs_addr=f"127.0.0.1:{grpc_port}", live_addr=f"127.0.0.1:{live_port}")
        await self._serving.enter_async_context(serving_http(create_app(settings), self.port, lifespan="on"))

    async def _stop(self) -> None:
        await self._serving.aclose()
        await self._live_sessions.close()
        await self._live.stop(None)
        await self._grpc.stop(None)
        await self._redis_client.aclose()
