"""The models on a Triton Inference Server over gRPC: the one module importing `tritonclient`.

`TritonMouthModel.infer` answers as the engine's `InferenceBackend.infer` does, awaited on the
event loop (`tritonclient.grpc.aio`). Each request carries up to `max_batch_size` windows; Triton's
dynamic batcher merges requests from every worker into larger batches on its side.

`TritonFrameGenerator.generate` answers as the engine's `FrameGenerator.generate` does, for an
operator-supplied generator (`lipsync export-generator`). It blocks (`tritonclient.grpc`): the
render calls it from its own thread once per batch of frames, as it would call ONNX Runtime.

Failures split in two. A server that does not answer (UNAVAILABLE: down or restarting;
DEADLINE_EXCEEDED: overloaded) is retried with growing pauses (tenacity), then `ModelServerUnavailable` is
raised, for the caller to try again later. A server that answers with an error (unknown model,
wrong input) is a deployment problem that no retry mends: `ModelError` at once.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tritonclient.grpc import InferenceServerClient as BlockingClient
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from services.core import metrics
from services.core.errors import ModelServerUnavailable
from services.engine.engine_errors import ModelError
from services.engine.generators.backend import MODEL_NAME as GENERATOR_MODEL

log = logging.getLogger(__name__)

MOUTH_MODEL = "mouth_shapes"  # triton_models/mouth_shapes
RETRYABLE = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED",
                       "StatusCode.RESOURCE_EXHAUSTED"})
MAX_MESSAGE = 64 << 20  # 32 windows of mel frames are about 7 MB
# A restarted server is noticed within seconds: gRPC's own reconnect backoff grows to 2 minutes.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 30_000),
]
T = TypeVar("T")


@dataclass(frozen=True)
class Retries:
    tries: int = 6
    timeout: float = 10.0  # seconds per request
    first_pause: float = 0.25  # doubled after each failed try (0.25 + 0.5 + ... ~ 8 s in all)
    max_pause: float = 4.0


@dataclass(frozen=True)
class ModelStatistics:
    inference_count: int  # windows inferred (batch elements)
    execution_count: int  # model executions (batches run)


class TritonMouthModel:
    """mel [B, T, 64] -> (shapes [B, T/4, 3], viseme logits [B, T/4, V]) on Triton at `url`."""

    def __init__(self, url: str, model: str = MOUTH_MODEL, retries: Retries | None = None) -> None:
        self.url = url
        self.model = model
        self.retries = retries or Retries()
        self._client: InferenceServerClient | None = None

    def _connection(self) -> InferenceServerClient:
        # Made on first use: a grpc.aio channel belongs to the event loop it was made on.
        if self._client is None:
            self._client = InferenceServerClient(self.url, channel_args=_CHANNEL_OPTIONS)
        return self._client

    async def infer(self, feature_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steps = np.ascontiguousarray(feature_batch, np.float32)
        request = InferInput("features", list(steps.shape), "FP32")
        request.set_data_from_numpy(steps)
        outputs = [InferRequestedOutput("shapes"), InferRequestedOutput("visemes")]
        started = time.perf_counter()
        try:
            result = await self._call(lambda client: client.infer(
                self.model, [request], outputs=outputs, client_timeout=self.retries.timeout))
        except Exception:
            metrics.triton_failures.labels(self.model).inc()
            raise
        metrics.triton_latency.labels(self.model).observe(time.perf_counter() - started)
        shapes, visemes = result.as_numpy("shapes"), result.as_numpy("visemes")
        if shapes is None or visemes is None:
            raise ModelError(f"Triton's {self.model} answered without its outputs")
        return shapes, visemes

    async def ready(self, timeout: float = 2.0) -> bool:
        """Is the server up with the model loaded? One quick look, no retries; never raises."""
        try:
            client = self._connection()
            return bool(await client.is_server_ready(client_timeout=timeout)
                        and await client.is_model_ready(self.model, client_timeout=timeout))
        except InferenceServerException:
            return False

    async def statistics(self) -> ModelStatistics:
        """Triton's own counters for the model since it was loaded."""
        answer: dict[str, Any] = await self._call(
            lambda client: client.get_inference_statistics(self.model, as_json=True,
                                                           client_timeout=self.retries.timeout))
        stats = answer.get("model_stats", [])
        return ModelStatistics(sum(int(s.get("inference_count", 0)) for s in stats),
                               sum(int(s.get("execution_count", 0)) for s in stats))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _call(self, request: Callable[[InferenceServerClient], Awaitable[T]]) -> T:
        try:
            async for attempt in AsyncRetrying(**_retry_policy(self.retries, self.url)):
                with attempt:
                    try:
                        return await request(self._connection())
                    except InferenceServerException as exc:
                        raise _refused_or_unanswered(exc, self.model) from exc
        except _Unanswered as exc:
            raise _unavailable(self.url, self.retries, exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")


class _Closed:
    """Stands in for a closed client: any use says so."""

    def __getattr__(self, name: str) -> Any:
        raise ModelError("the Triton generator client has been closed")


class TritonFrameGenerator:
    """face [B, 6, 96, 96], mel [B, 1, 80, 16] -> frames [B, 3, 96, 96] on Triton at `url`.

    Blocking, for the render thread; one client serves every thread (its calls are
    thread-safe). Failures split as the mouth model's do: `ModelServerUnavailable` after the
    retries when the server does not answer, `ModelError` at once when it refuses.
    """

    def __init__(self, url: str, model: str = GENERATOR_MODEL, retries: Retries | None = None) -> None:
        self.url = url
        self.model = model or GENERATOR_MODEL
        self.retries = retries or Retries()
        self._client: Any = BlockingClient(url, channel_args=_CHANNEL_OPTIONS)
        # Generators live as long as the process; close the channel before the interpreter tears
        # grpc down, or the client's own __del__ fails noisily at exit.
        atexit.register(self.close)

    def generate(self, face: np.ndarray, mel: np.ndarray) -> np.ndarray:
        inputs = []
        for name, array in (("face", face), ("mel", mel)):
            data = np.ascontiguousarray(array, np.float32)
            tensor = InferInput(name, list(data.shape), "FP32")
            tensor.set_data_from_numpy(data)
            inputs.append(tensor)
        result = self._call(lambda: self._client.infer(
            self.model, inputs, outputs=[InferRequestedOutput("frames")],
            client_timeout=self.retries.timeout))
        frames = result.as_numpy("frames")
        if frames is None:
            raise ModelError(f"Triton's {self.model} answered without its frames")
        return frames

    def ready(self, timeout: float = 2.0) -> bool:
        """Is the server up with the generator loaded? One quick look; never raises."""
        try:
            return bool(self._client.is_server_ready(client_timeout=timeout)
                        and self._client.is_model_ready(self.model, client_timeout=timeout))
        except InferenceServerException:
            return False

    def close(self) -> None:
        """Close the channel and let the client go now, while grpc is intact: its own __del__
        closes again, which fails noisily once the interpreter is tearing modules down."""
        if not isinstance(self._client, _Closed):
            self._client.close()
            self._client = _Closed()

    def _call(self, request: Callable[[], T]) -> T:
        try:
            for attempt in Retrying(**_retry_policy(self.retries, self.url)):
                with attempt:
                    try:
                        return request()
                    except InferenceServerException as exc:
                        raise _refused_or_unanswered(exc, self.model) from exc
        except _Unanswered as exc:
            raise _unavailable(self.url, self.retries, exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")


class _Unanswered(Exception):
    """The server did not answer (down, restarting, overloaded): worth another try."""

    def __init__(self, cause: InferenceServerException) -> None:
        super().__init__(cause.message())
        self.cause = cause


def _refused_or_unanswered(exc: InferenceServerException, model: str) -> Exception:
    if exc.status() in RETRYABLE:
        return _Unanswered(exc)
    return ModelError(f"Triton refused the {model} request: {exc.message()}")


def _retry_policy(retries: Retries, url: str) -> dict[str, Any]:
    """tenacity's arguments: only unanswered calls are retried, with pauses doubling from
    `first_pause` up to `max_pause`, and the last failure re-raised."""
    def warn(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("Triton at %s: %s (try %d of %d); retrying in %.2f s", url, failure,
                    state.attempt_number, retries.tries, pause)

    return {"stop": stop_after_attempt(retries.tries),
            "wait": wait_exponential(multiplier=retries.first_pause, max=retries.max_pause),
            "retry": retry_if_exception_type(_Unanswered), "before_sleep": warn, "reraise": True}


def _unavailable(url: str, retries: Retries, last: _Unanswered) -> ModelServerUnavailable:
    return ModelServerUnavailable(
        f"The model server (Triton at {url}) did not answer after {retries.tries} tries: {last}")
