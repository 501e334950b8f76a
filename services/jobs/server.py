"""Building and running the job service's gRPC server.

`create_server` binds and returns the server (not started) and its port, so tests bind
`127.0.0.1:0` and talk to a real channel; `serve_jobs` runs it until asked to stop.
"""

from __future__ import annotations

import asyncio

import grpc

from protos.lipsync.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    console_pb2,
    console_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)
from services.console.servicer import ConsoleServicer
from services.core.grpc_errors import ErrorInterceptor
from services.core.health import add_health, set_all
from services.core.settings import Settings
from services.jobs.admin import AdminServicer
from services.jobs.servicer import JobServicer
from services.store.connection import RedisClient, connect

JOB_SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name
CONSOLE_SERVICE = console_pb2.DESCRIPTOR.services_by_name["ConsoleService"].full_name


_BACKGROUND: set[asyncio.Task[None]] = set()


def create_server(address: str, settings: Settings, redis: RedisClient) -> tuple[grpc.aio.Server, int]:
    """Call from a running event loop."""
    server = grpc.aio.server(interceptors=[ErrorInterceptor()],
                             options=[("grpc.max_receive_message_length", 4 << 20)])
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(settings, redis), server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(settings, redis), server)
    console_pb2_grpc.add_ConsoleServiceServicer_to_server(ConsoleServicer(settings, redis), server)
    services = (JOB_SERVICE, ADMIN_SERVICE, CONSOLE_SERVICE)
    health_servicer = add_health(server, services)
    # Serving from the start: the store is checked per call and answers UNAVAILABLE itself.
    task = asyncio.get_running_loop().create_task(set_all(health_servicer, services))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the job service to {address}")
    return server, port


async def serve_jobs(settings: Settings, stop: asyncio.Event, grace: float = 10.0) -> None:
    redis = connect(settings.redis_url)
    server, _ = create_server(settings.jobs_addr, settings, redis)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop(grace)
        await redis.aclose()
