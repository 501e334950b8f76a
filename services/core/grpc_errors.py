"""One `grpc.aio` server interceptor that turns exceptions into gRPC statuses, for every server
and every kind of rpc (unary and streaming), and puts the caller's request id in the log context.

A servicer raises domain errors (`services.core.errors`); this answers each with its status.
A Redis outage answers UNAVAILABLE. The engine's `InputError` (an unusable input) is the
caller's mistake: INVALID_ARGUMENT. Anything else is a bug: logged with its traceback and
answered INTERNAL with a message that leaks nothing.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core import logs
from services.core.errors import InvalidArgument, ServiceError, Unavailable, to_rpc_status
from services.engine.engine_errors import InputError

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"


def translate(exc: Exception) -> ServiceError | None:
    """The domain error `exc` stands for; None for a bug."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Unavailable("The job store is unavailable; try again shortly")
    if isinstance(exc, InputError):
        return InvalidArgument(str(exc))
    return None


def request_id_of(metadata: Any) -> str:
    """The caller's request id (the proxy forwards its X-Request-Id), for the logs."""
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            return (value.decode() if isinstance(value, bytes) else value)[:128]
    return ""


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    error = translate(exc)
    if error is None:
        log.error("unexpected error in %s", method, exc_info=exc)
        error = ServiceError("Internal error")  # INTERNAL, and nothing of the bug leaks
    await context.abort_with_status(to_rpc_status(error))


def _unary_response(behavior: Callable[..., Awaitable[Any]], method: str, request_id: str
                    ) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        logs.request_id.set(request_id)
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return call


def _stream_response(behavior: Callable[..., Any], method: str, request_id: str) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write and returns
        return _unary_response(behavior, method, request_id)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        logs.request_id.set(request_id)
        try:
            async for item in behavior(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return stream


# The four rpc kinds: the handler's attribute, how a handler of that kind is made, and the wrapper
# (unary responses are awaited; streamed ones are iterated).
_KINDS: tuple[tuple[str, Callable[..., Any], Callable[..., Any]], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, _unary_response),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, _stream_response),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, _unary_response),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, _stream_response),
)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        request_id = request_id_of(details.invocation_metadata)
        serializers = {"request_deserializer": handler.request_deserializer,
                       "response_serializer": handler.response_serializer}
        for kind, make, wrap in _KINDS:
            behavior = getattr(handler, kind)
            if behavior:
                return make(wrap(behavior, method, request_id), **serializers)
        return handler
