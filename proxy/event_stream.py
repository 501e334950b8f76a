"""A server-streaming rpc as Server-Sent Events (`text/event-stream`), generic over its binding.

Each streamed message is one event: `data:` is the message (or its `response_body` field) as the
same public JSON a unary call answers, `id:` its integer field `id` when the binding has one
(`HttpBinding.event_id_field`). A `Last-Event-ID` header (what a browser's EventSource sends when
it reconnects) fills the request's `last_event_id` field, if it has one, so the service can
resume after it.

The HTTP status waits for the stream's first message, so an error found before it (no key, an
unknown or another account's job, a spent budget) is an ordinary JSON error with its status, and
a stream that ends with nothing to send (a resumed one whose end was already seen) is `204`,
which tells EventSource to stop reconnecting. If nothing comes within the keep-alive interval the
answer starts anyway; from then on a comment line goes out whenever the stream has been quiet
that long (so proxies keep the connection open), and an error ends the stream with an
`event: error` whose data is the error JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from proxy.error_responses import from_rpc_error
from proxy.http_rules import HttpBinding
from proxy.jsonmap import message_to_json_dict
from proxy.response_headers import passed_headers

KEEPALIVE_SECONDS = 15.0
LAST_EVENT_ID = "Last-Event-ID"
RESUME_FIELD = "last_event_id"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def resume_query(binding: HttpBinding, request: Request) -> list[tuple[str, str]]:
    """The query items, plus `Last-Event-ID` as the resume field (checked like any query value)."""
    query = request.query_params.multi_items()
    field = binding.request_type.fields_by_name.get(RESUME_FIELD)
    value = request.headers.get(LAST_EVENT_ID)
    if field is None or value is None or any(name == field.json_name for name, _ in query):
        return query
    return [*query, (field.json_name, value.strip())]


async def event_stream_response(binding: HttpBinding, call: Any,
                                keepalive: float = KEEPALIVE_SECONDS) -> Response:
    """Answer the streaming `call` (a grpc.aio UnaryStreamCall) as Server-Sent Events."""
    next_message = asyncio.ensure_future(call.read())
    try:
        done, _ = await asyncio.wait({next_message}, timeout=keepalive)
        if done:
            first = next_message.result()  # an AioRpcError goes to the central handlers
            headers = passed_headers(await call.initial_metadata())
            if first is grpc.aio.EOF:
                return Response(status_code=204, headers=headers)
        else:
            first, headers = None, {}
    except BaseException:
        next_message.cancel()
        call.cancel()
        raise

    async def events() -> AsyncIterator[bytes]:
        pending = next_message
        try:
            if first is not None:
                yield _event(binding, first)
                pending = asyncio.ensure_future(call.read())
            else:
                yield b": waiting\n\n"
            while True:
                done, _ = await asyncio.wait({pending}, timeout=keepalive)
                if not done:
                    yield b": keep-alive\n\n"
                    continue
                try:
                    message = pending.result()
                except grpc.aio.AioRpcError as exc:
                    error = from_rpc_error(exc)
                    body = {"error": error.message, "code": error.code}
                    yield f"event: error\ndata: {json.dumps(body)}\n\n".encode()
                    return
                if message is grpc.aio.EOF:
                    return
                yield _event(binding, message)
                pending = asyncio.ensure_future(call.read())
        finally:
            pending.cancel()
            call.cancel()  # the client went away, or the stream ended: either way, done
            with contextlib.suppress(BaseException):
                await pending

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={**STREAM_HEADERS, **headers})


def _event(binding: HttpBinding, message: Message) -> bytes:
    body: Any = message
    field = binding.response_body_field
    if field is not None:
        body = getattr(message, field.name)
    lines = []
    id_field = binding.event_id_field
    if id_field is not None:
        lines.append(f"id: {getattr(message, id_field.name)}")
    lines.append("data: " + json.dumps(message_to_json_dict(body), separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()
