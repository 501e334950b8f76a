"""The public REST API as a Starlette app.

    create_app(settings) -> Starlette

Routes: one per `google.api.http` binding of `JobService` (transcoded to gRPC; the watch stream
as Server-Sent Events), `/healthz`,
`/readyz`, `/openapi.json`, `POST /api/v1/files` and `GET /files/{key}`. Middleware, outermost
first: request id, body size caps, bearer-key parsing; errors are answered by the handlers in
`proxy.error_responses`. The lifespan opens the gRPC channel to the job service (unless one is given) and
closes it on shutdown.

The proxy is the public edge: it talks gRPC to the job service and nothing else, never Redis
(so it needs no Redis setting and holds no account's webhook secret). Webhooks are delivered by
their own role, `lipsync serve webhooks` (`services/webhooks/dispatcher.py`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy import files, health, live_routes, metrics
from proxy.auth import BearerTokenBackend
from proxy.body_limit import BodyLimitMiddleware
from proxy.clients import JOB_SERVICE, JobClients, job_stub, open_channel
from proxy.console import UPLOAD_PATH as CONSOLE_UPLOAD_PATH
from proxy.console import console_mount
from proxy.error_responses import EXCEPTION_HANDLERS
from proxy.event_stream import KEEPALIVE_SECONDS
from proxy.http_rules import http_bindings
from proxy.metrics import MetricsMiddleware
from proxy.openapi import openapi_document
from proxy.request_id import RequestIdMiddleware
from proxy.transcoder import DEFAULT_DEADLINE, transcoded_routes
from services.core.settings import Settings

log = logging.getLogger(__name__)

OPENAPI_PATHS: dict[str, Any] = {"/openapi.json": {"get": {
    "operationId": "openapi", "summary": "This document", "tags": ["operations"], "security": [],
    "responses": {"200": {"description": "The OpenAPI 3.1 document", "content": {
        "application/json": {"schema": {"type": "object"}}}}}}}}


def create_app(settings: Settings, channel: grpc.aio.Channel | None = None, *,
               deadline: float = DEFAULT_DEADLINE,
               keepalive: float = KEEPALIVE_SECONDS) -> Starlette:
    bindings = http_bindings(JOB_SERVICE)
    document = openapi_document(
        bindings, {**health.OPENAPI_PATHS, **files.OPENAPI_PATHS, **metrics.OPENAPI_PATHS, **OPENAPI_PATHS,
                   **live_routes.OPENAPI_PATHS},
        {**health.OPENAPI_SCHEMAS, **files.OPENAPI_SCHEMAS, **live_routes.OPENAPI_SCHEMAS},
        title="lipsync", version=_version(), server_url=settings.public_url)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if channel is None:
                own = open_channel(settings.jobs_addr)
                stack.push_async_callback(own.close)
            stack.push_async_callback(live_routes.close, app)  # the live role's channel, if opened
            app.state.clients = JobClients.over(channel or own)
            yield

    app = Starlette(
        routes=[*transcoded_routes(bindings, job_stub, deadline, keepalive), *health.ROUTES, *files.ROUTES,
                *metrics.ROUTES, Route("/openapi.json", openapi, methods=["GET"]), *live_routes.ROUTES,
                console_mount()],  # the web console, /console/ (proxy/console)
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(RequestIdMiddleware),
            Middleware(BodyLimitMiddleware, limit=settings.max_body_bytes,
                       overrides={files.UPLOAD_PATH: settings.max_upload_bytes,
                                  CONSOLE_UPLOAD_PATH: settings.max_upload_bytes}),
            Middleware(AuthenticationMiddleware, backend=BearerTokenBackend()),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = document  # the console's API reference page reads it
    return app


def _version() -> str:
    try:
        return metadata.version("lipsync")
    except metadata.PackageNotFoundError:
        return "0.0.0"
