"""The gRPC clients the proxy's routes call, over one shared channel opened in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc
from starlette.requests import Request

from protos.lipsync.v1 import jobs_pb2, jobs_pb2_grpc
from proxy.auth import api_key
from proxy.errors import request_id_of

JOB_SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
# Request headers passed on as metadata, for the job service to honour if it does.
FORWARDED_HEADERS = ("idempotency-key",)
CHANNEL_OPTIONS = (
    # Back within seconds of a job service restart (gRPC's default backoff grows to 2 minutes,
    # and every call fails fast with UNAVAILABLE meanwhile).
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # Spread calls over every address the name resolves to (a headless Service's pods).
    ("grpc.lb_policy_name", "round_robin"),
)


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


@dataclass(frozen=True)
class JobClients:
    channel: grpc.aio.Channel
    jobs: jobs_pb2_grpc.JobServiceStub
    health: health_pb2_grpc.HealthStub

    @classmethod
    def over(cls, channel: grpc.aio.Channel) -> JobClients:
        return cls(channel, jobs_pb2_grpc.JobServiceStub(channel), health_pb2_grpc.HealthStub(channel))


def clients_of(request: Request) -> JobClients:
    clients: JobClients = request.app.state.clients
    return clients


def job_stub(request: Request) -> jobs_pb2_grpc.JobServiceStub:
    return clients_of(request).jobs


def call_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """gRPC metadata for a call on the caller's behalf: their key, the request id, and the
    forwarded headers (printable ASCII only, as gRPC metadata must be)."""
    metadata = [("authorization", f"Bearer {api_key(request)}")]
    request_id = request_id_of(request)
    if request_id:
        metadata.append(("x-request-id", request_id))
    for name in FORWARDED_HEADERS:
        value = request.headers.get(name)
        if value and value.isascii() and value.isprintable():
            metadata.append((name, value))
    return tuple(metadata)
