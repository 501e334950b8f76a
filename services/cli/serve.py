"""Running the processes: each service until SIGTERM/SIGINT, then a graceful stop.

`lipsync serve proxy|jobs|inference|webhooks|live` run one each (production: one per container);
`lipsync dev` runs them all in one process on embedded defaults (see `dev.py`).

Only the job service, the workers and the webhook role reach Redis. The proxy, the public edge,
talks gRPC to the job service and nothing else: it needs no Redis setting and holds no
account's webhook secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import uvicorn

from services.core.settings import Settings

log = logging.getLogger("lipsync")
Service = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


class _QuietUvicorn(uvicorn.Server):
    """Uvicorn that leaves signals to us, so one SIGTERM stops every service in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_proxy(settings: Settings, stop: asyncio.Event) -> None:
    from proxy.app import create_app

    config = uvicorn.Config(create_app(settings), host=settings.proxy_host, port=settings.proxy_port,
                            lifespan="on", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=10)
    server = _QuietUvicorn(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()


async def serve_jobs(settings: Settings, stop: asyncio.Event) -> None:
    from services.jobs.server import serve_jobs as run

    await run(settings, stop)


async def serve_inference(settings: Settings, stop: asyncio.Event) -> None:
    from services.inference.server import serve_inference as run

    await run(settings, stop)


async def serve_webhooks(settings: Settings, stop: asyncio.Event) -> None:
    """The webhook dispatcher (`services/webhooks/dispatcher.py`): job events -> signed POSTs, until `stop`;
    then attempts in flight finish (or are handed back to the next dispatcher)."""
    from services.store.connection import connect
    from services.webhooks.dispatcher import WebhookDispatcher

    redis = connect(settings.redis_url)
    dispatcher = WebhookDispatcher(redis, settings)
    dispatching = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({dispatching, stopping}, return_when=asyncio.FIRST_COMPLETED)
        await dispatcher.stop()
        await dispatching  # raises what ended it early, if anything did
    finally:
        stopping.cancel()
        await redis.aclose()


async def serve_live(settings: Settings, stop: asyncio.Event) -> None:
    """Live sessions over WebRTC (`services/live/`): long-lived and stateful, so a role of their
    own rather than the job workers' (docs/live.md)."""
    from services.live.server import serve_live as run

    await run(settings, stop)


SERVICES: dict[str, Service] = {"proxy": serve_proxy, "jobs": serve_jobs, "inference": serve_inference,
                                "webhooks": serve_webhooks, "live": serve_live}


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (a faster event loop for the HTTP and gRPC
    servers), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_services(settings: Settings, names: list[str]) -> None:
    """Run the named services until a signal; then stop them all, each finishing its work."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    tasks = [asyncio.create_task(SERVICES[name](settings, stop), name=name) for name in names]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()  # one failed: stop the rest too
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            log.error("%s stopped with an error: %s", name, result)
            raise result
