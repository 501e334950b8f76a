"""The one error interceptor, on a real grpc.aio server: every rpc kind answers domain errors
with their status, a Redis outage with UNAVAILABLE, a bug with INTERNAL and nothing of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.core import logs
from services.core.errors import NotFound
from services.core.grpc_errors import ErrorInterceptor
from services.engine.engine_errors import NoFaceError

SEEN_REQUEST_IDS: list[str] = []


def _raise(what: bytes) -> None:
    SEEN_REQUEST_IDS.append(logs.request_id.get())
    if what == b"missing":
        raise NotFound("No such job")
    if what == b"redis":
        raise RedisConnectionError("connection refused")
    if what == b"face":
        raise NoFaceError("No face found in the image")
    if what == b"bug":
        raise KeyError("secret-internal-detail")


async def _unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    _raise(request)
    return b"ok"


async def _stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"first"
    _raise(request)
    yield b"ok"


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Errors", {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    await server.stop(None)


@pytest.mark.parametrize("what, code, message", [
    (b"missing", grpc.StatusCode.NOT_FOUND, "No such job"),
    (b"redis", grpc.StatusCode.UNAVAILABLE, "The job store is unavailable; try again shortly"),
    (b"face", grpc.StatusCode.INVALID_ARGUMENT, "No face found in the image"),
    (b"bug", grpc.StatusCode.INTERNAL, "Internal error"),
])
async def test_every_rpc_kind_answers_the_same_status(channel: grpc.aio.Channel, what: bytes,
                                                      code: grpc.StatusCode, message: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    metadata = (("x-request-id", "req-42"),)
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await channel.unary_unary("/test.Errors/Unary")(what, metadata=metadata)
    received: list[bytes] = []
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for item in channel.unary_stream("/test.Errors/Stream")(what, metadata=metadata):
            received.append(item)
    for error in (unary.value, streamed.value):
        assert error.code() == code and error.details() == message
    assert received == [b"first"]  # what was sent before the error still arrived
    assert SEEN_REQUEST_IDS[-2:] == ["req-42", "req-42"]
    bug_logged = [r for r in caplog.records if r.levelno == logging.ERROR and "unexpected error" in r.message]
    assert bool(bug_logged) == (what == b"bug")


async def test_a_successful_call_is_untouched(channel: grpc.aio.Channel) -> None:
    assert await channel.unary_unary("/test.Errors/Unary")(b"fine") == b"ok"
    assert [i async for i in channel.unary_stream("/test.Errors/Stream")(b"fine")] == [b"first", b"ok"]
