"""Turning exceptions into gRPC statuses, in one place for every servicer."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core import logs
from services.core.errors import ServiceError, Unavailable, to_rpc_status

log = logging.getLogger(__name__)
T = TypeVar("T")


def _translate(exc: Exception) -> ServiceError | None:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Unavailable("The job store is unavailable; try again shortly")
    return None


def _request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's request id (the proxy forwards its X-Request-Id), for the logs."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id":
            return (value.decode() if isinstance(value, bytes) else value)[:128]
    return ""


def unary(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Domain errors become their gRPC status; anything else is logged and INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        logs.request_id.set(_request_id(context))
        try:
            return await method(self, request, context)
        except Exception as exc:
            error = _translate(exc)
            if error is None:
                log.exception("unexpected error in %s", method.__name__)
                raise
            await context.abort_with_status(to_rpc_status(error))
            raise AssertionError("abort_with_status returns by raising") from None

    return wrapper


def streaming(method: Callable[..., AsyncIterator[T]]) -> Callable[..., AsyncIterator[T]]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[T]:
        logs.request_id.set(_request_id(context))
        try:
            async for item in method(self, request, context):
                yield item
        except Exception as exc:
            error = _translate(exc)
            if error is None:
                log.exception("unexpected error in %s", method.__name__)
                raise
            await context.abort_with_status(to_rpc_status(error))

    return wrapper
