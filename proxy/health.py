"""Liveness and readiness, for load balancers and Kubernetes probes.

`/healthz`: the process answers (nothing else is checked, so a Redis or job service outage
never gets healthy proxies restarted). `/readyz`: the job service's gRPC health check says
SERVING, so this replica can take work.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.clients import JOB_SERVICE, clients_of
from proxy.error_responses import OUTAGE_MESSAGE, ApiError
from proxy.openapi import response_ref

READY_TIMEOUT = 2.0  # seconds: a probe must answer well within its own timeout


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        reply = await clients_of(request).health.Check(
            health_pb2.HealthCheckRequest(service=JOB_SERVICE.full_name), timeout=READY_TIMEOUT)
    except grpc.aio.AioRpcError:
        reply = None
    if reply is None or reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise ApiError(503, "unavailable", OUTAGE_MESSAGE, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok"})


ROUTES = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]

_STATUS_OK: dict[str, Any] = {
    "description": "OK",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthStatus"}}},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/healthz": {"get": {
        "operationId": "healthz", "summary": "The process is alive", "tags": ["operations"],
        "security": [], "responses": {"200": _STATUS_OK}}},
    "/readyz": {"get": {
        "operationId": "readyz", "summary": "The job service is serving: this replica can take work",
        "tags": ["operations"], "security": [],
        "responses": {"200": _STATUS_OK, "503": response_ref("Unavailable")}}},
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "HealthStatus": {"type": "object", "required": ["status"],
                     "properties": {"status": {"type": "string", "const": "ok"}}},
}
