"""The gRPC clients the proxy's routes call, over one shared channel opened in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc
from starlette.requests import Request

from protos.lipsync.v1 import jobs_pb2, jobs_pb2_grpc
from proxy.auth import api_key
from proxy.error_responses import bad_request, request_id_of

JOB_SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
# Request headers passed on as metadata (lower-cased), for the job service to honour if it does.
FORWARDED_HEADERS = ("Idempotency-Key",)
MAX_FORWARDED_LENGTH = 1024  # far below gRPC's metadata size limit; the service checks the rest
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
    forwarded headers (printable ASCII only, as gRPC metadata must be: anything else is a 400,
    not silently dropped, or a retry meant to be idempotent would make a second job)."""
    metadata = [("authorization", f"Bearer {api_key(request)}")]
    request_id = request_id_of(request)
    if request_id:
        metadata.append(("x-request-id", request_id))
    for name in FORWARDED_HEADERS:
        value = request.headers.get(name)
        if not value:
            continue
        if not (value.isascii() and value.isprintable()) or len(value) > MAX_FORWARDED_LENGTH:
            raise bad_request(f"The {name} header must be printable ASCII, at most "
                              f"{MAX_FORWARDED_LENGTH} characters", name)
        metadata.append((name.lower(), value))
    return tuple(metadata)
