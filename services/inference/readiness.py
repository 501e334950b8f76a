"""The inference service's readiness follows its model server's.

With Triton configured, `lipsync.v1.InferenceService` reports NOT_SERVING while Triton is down or
its model not loaded, so a readiness probe (and a load balancer in front of the direct Render RPC)
turns away from a worker that cannot render. The whole server's status ("") stays SERVING while
the process runs: a liveness probe on it must not restart workers for Triton's outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health

from services.core.health import NOT_SERVING, SERVING
from services.inference.shapes import AsyncMouthModel

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


async def follow_model_server(model: AsyncMouthModel, servicer: health.aio.HealthServicer, service: str,
                              stop: asyncio.Event, interval: float = POLL_SECONDS) -> None:
    """Until `stop`: look at the model server every `interval` seconds, and set `service`'s
    status whenever its readiness changes."""
    serving: bool | None = None
    while not stop.is_set():
        ready = await model.ready()
        if ready != serving:
            await servicer.set(service, SERVING if ready else NOT_SERVING)
            if ready:
                log.info("model server ready: %s serving", service)
            else:
                log.warning("model server not ready: %s not serving", service)
            serving = ready
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
