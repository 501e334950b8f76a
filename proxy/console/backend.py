"""Calls to the ConsoleService (gRPC, over the proxy's one channel to the job service), on
behalf of the browser's session."""

from __future__ import annotations

import grpc
from starlette.requests import Request

from protos.lipsync.v1 import console_pb2_grpc
from proxy.clients import clients_of
from proxy.error_responses import request_id_of

SESSION_COOKIE = "lipsync_session"
DEADLINE = 10.0  # seconds: argon2 and a few Redis reads


def console_stub(request: Request) -> console_pb2_grpc.ConsoleServiceStub:
    channel: grpc.aio.Channel = clients_of(request).channel
    return console_pb2_grpc.ConsoleServiceStub(channel)


def session_of(request: Request) -> str:
    """The browser's session token ("" when it has none, or not one of ours)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    return token if token.isascii() and token.isprintable() and len(token) <= 128 else ""


def session_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    metadata = [("authorization", f"Session {session_of(request) or '-'}")]
    request_id = request_id_of(request)
    if request_id:
        metadata.append(("x-request-id", request_id))
    return tuple(metadata)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""
