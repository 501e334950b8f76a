"""gRPC health checking, set up the same way on every server: the standard Health service,
every named service and the whole server ("") reported, and reflection listing them."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def add_health(server: grpc.aio.Server, services: tuple[str, ...]) -> health.aio.HealthServicer:
    """Health and reflection for `services` on `server`. The whole server ("") starts SERVING;
    each named service starts unknown until `set_all` (or a readiness watcher) sets it."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection((*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return servicer


async def set_all(servicer: health.aio.HealthServicer, services: tuple[str, ...],
                  status: int = SERVING) -> None:
    for name in ("", *services):
        await servicer.set(name, status)
