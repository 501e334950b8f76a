"""Building and running the inference process: the `InferenceService` gRPC server and a queue
worker side by side.

`create_server` binds and returns the server (not started) and its port, so tests bind
`127.0.0.1:0` and talk to a real channel. `serve_inference` runs server and worker until its
stop event is set (signals are the caller's business), then stops both gracefully: the health
check turns NOT_SERVING first, running jobs get `grace` seconds, unfinished ones are left to
other workers. With `Settings.triton_url`, both use that Triton (one client), and the service's
health follows Triton's readiness (`readiness.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import grpc
from grpc_health.v1 import health

from protos.lipsync.v1 import inference_pb2, inference_pb2_grpc
from services.core.grpc_errors import ErrorInterceptor
from services.core.health import add_health, set_all
from services.core.settings import Settings
from services.inference.pipeline import JobPipeline
from services.inference.readiness import follow_model_server
from services.inference.servicer import InferenceServicer
from services.inference.shapes import AsyncMouthModel, remote_model
from services.inference.worker import Worker
from services.store.connection import connect
from services.store.jobs import JobStore

log = logging.getLogger(__name__)

INFERENCE_SERVICE = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name
MAX_MESSAGE = 4 << 20  # requests are small; result chunks are 1 MiB


def _build(address: str, settings: Settings, model: AsyncMouthModel | None = None
           ) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()],
                             options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE)])
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(InferenceServicer(settings, model), server)
    health_servicer = add_health(server, (INFERENCE_SERVICE,))
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the inference service to {address}")
    return server, port, health_servicer


def create_server(address: str, settings: Settings,
                  model: AsyncMouthModel | None = None) -> tuple[grpc.aio.Server, int]:
    server, port, _ = _build(address, settings, model)
    return server, port


def consumer_name() -> str:
    """Unique per process, and says where the process runs (visible in XINFO CONSUMERS)."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def serve_inference(settings: Settings, stop_event: asyncio.Event, grace: float = 30.0) -> None:
    model = remote_model(settings)
    server, port, health_servicer = _build(settings.inference_addr, settings, model)
    redis = connect(settings.redis_url)
    worker = Worker(settings, redis, consumer_name(), JobPipeline(settings, JobStore(redis), model))
    await server.start()
    watch_stop = asyncio.Event()
    if model is None:
        await set_all(health_servicer, (INFERENCE_SERVICE,))
        watching = None
    else:
        watching = asyncio.create_task(
            follow_model_server(model, health_servicer, INFERENCE_SERVICE, watch_stop), name="readiness")
    log.info("inference service on port %d; worker %s, %d job(s) at a time; models %s", port,
             worker.consumer, settings.worker_concurrency,
             f"on Triton at {settings.triton_url}" if model else "in-process (ONNX Runtime)")
    working = asyncio.create_task(worker.run(), name="worker")
    stopping = asyncio.create_task(stop_event.wait())
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        watch_stop.set()
        if watching is not None:
            await asyncio.gather(watching, return_exceptions=True)
        await health_servicer.enter_graceful_shutdown()
        await worker.stop(grace)
        (outcome,) = await asyncio.gather(working, return_exceptions=True)
        await server.stop(grace)
        await redis.aclose()
        if model is not None:
            await model.close()
    if isinstance(outcome, Exception):
        raise outcome  # the worker could not run (e.g. Redis unreachable at start)
