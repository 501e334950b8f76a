"""`lipsync serve live`: the LiveService on `LIPSYNC_LIVE_ADDR`, until stopped; then every
session ends (reason "shutdown") and its record says so."""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health
from threadpoolctl import threadpool_limits

from protos.lipsync.v1 import live_pb2_grpc
from services.core.grpc_errors import ErrorInterceptor
from services.core.health import NOT_SERVING, add_health, set_all
from services.core.metrics import serve_metrics
from services.core.settings import Settings
from services.live.ice import rtc_configuration
from services.live.manager import SessionManager
from services.live.registry import SessionRegistry
from services.live.servicer import Fetch, LiveServicer
from services.net.fetch import fetch_input
from services.store.connection import RedisClient, connect

SERVICE_NAME = "lipsync.v1.LiveService"
# aioice logs every candidate pair's every state at INFO: several lines per session per second.
logging.getLogger("aioice").setLevel(logging.WARNING)


def create_live_server(address: str, settings: Settings, redis: RedisClient,
                       fetch: Fetch = fetch_input
                       ) -> tuple[grpc.aio.Server, int, SessionManager, health.aio.HealthServicer]:
    """The LiveService (and gRPC health) bound to `address`; its port, its sessions."""
    manager = SessionManager(SessionRegistry(redis), rtc_configuration(settings),
                             settings.live_max_sessions)
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    live_pb2_grpc.add_LiveServiceServicer_to_server(
        LiveServicer(settings, redis, manager, fetch), server)
    checks = add_health(server, (SERVICE_NAME,))
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the live service to {address}")
    return server, port, manager, checks


async def serve_live(settings: Settings, stop: asyncio.Event, grace: float = 5.0) -> None:
    # The mouth front end's small matrix products: one BLAS thread, set once for the process.
    threadpool_limits(limits=1, user_api="blas")
    redis = connect(settings.redis_url)
    server, _, manager, checks = create_live_server(settings.live_addr, settings, redis)
    serve_metrics(settings.metrics_port)
    await server.start()
    await set_all(checks, (SERVICE_NAME,))
    try:
        await stop.wait()
    finally:
        await set_all(checks, (SERVICE_NAME,), NOT_SERVING)
        await manager.close()
        await server.stop(grace)
        await redis.aclose()
