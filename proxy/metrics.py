"""The proxy's `/metrics` (Prometheus text format) and the middleware that counts requests.

Requests are labelled by route template (`/api/v1/jobs/{id}`), never by raw path, so the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import metrics


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/metrics", metrics_endpoint, methods=["GET"])]
OPENAPI_PATHS: dict[str, Any] = {"/metrics": {"get": {
    "operationId": "metrics", "summary": "Prometheus metrics of this process", "tags": ["operations"],
    "security": [], "responses": {"200": {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}}}}}


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.http_requests.labels(template, scope["method"], str(status)).inc()
            metrics.http_latency.labels(template).observe(time.perf_counter() - started)
