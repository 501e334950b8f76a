"""REST <-> gRPC transcoding, generic over a service's `google.api.http` annotations.

One Starlette route per binding: the request's JSON body, path and query become the request
message, the unary method is called on the caller's behalf (their key and the request id as
metadata, with a deadline), and the response message is answered as public JSON, with the
headers the service passed along as metadata (`proxy.response_headers`). A server-streaming
method is called the same way, without a deadline, and answered as Server-Sent Events
(`proxy.event_stream`). Nothing here knows a particular endpoint: annotating another rpc in the
.proto adds its route.

gRPC errors are not caught here: they reach the app's central handlers (`proxy.error_responses`).

Written here rather than taken from a library: the maintained transcoders (Envoy's
grpc_json_transcoder, grpc-gateway) are other processes in other languages, and the public
contract differs from proto3's JSON mapping (nulls, integers as numbers: `proxy.jsonmap`), which
a generic transcoder would not write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.auth import api_key
from proxy.clients import call_metadata
from proxy.event_stream import KEEPALIVE_SECONDS, event_stream_response, resume_query
from proxy.http_rules import HttpBinding
from proxy.jsonmap import message_to_json_dict
from proxy.request_message import build_request
from proxy.response_headers import passed_headers

DEFAULT_DEADLINE = 10.0  # seconds; every JobService call is a few Redis round-trips

StubOf = Callable[[Request], Any]  # the generated stub to call, e.g. JobServiceStub, per request


def transcoded_routes(bindings: list[HttpBinding], stub_of: StubOf,
                      deadline: float = DEFAULT_DEADLINE,
                      keepalive: float = KEEPALIVE_SECONDS) -> list[Route]:
    return [Route(b.route_path, _endpoint(b, stub_of, deadline, keepalive), methods=[b.verb],
                  name=f"{b.method.name}:{b.verb}:{b.template}")
            for b in bindings]


def _endpoint(binding: HttpBinding, stub_of: StubOf, deadline: float,
              keepalive: float) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        api_key(request)  # no key, no work: 401 before even reading the body
        body = await request.body() if binding.body else b""
        query = (resume_query(binding, request) if binding.server_streaming
                 else request.query_params.multi_items())
        message = build_request(binding, body, request.path_params, query)
        call = getattr(stub_of(request), binding.method.name)
        if binding.server_streaming:
            return await event_stream_response(
                binding, call(message, metadata=call_metadata(request)), keepalive)
        pending = call(message, metadata=call_metadata(request), timeout=deadline)
        response = await pending
        headers = passed_headers(await pending.initial_metadata(), await pending.trailing_metadata())
        field = binding.response_body_field
        answer = getattr(response, field.name) if field is not None else response
        return JSONResponse(message_to_json_dict(answer), headers=headers)

    endpoint.__name__ = binding.method.name
    return endpoint
