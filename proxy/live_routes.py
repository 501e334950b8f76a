"""The live routes: REST (and WHIP) in front of `LiveService` (`lipsync serve live`).

    POST   /api/v1/live            {"formState": {...}}  -> 201 {"id", "whip", "expiresAt", ...}
    POST   /api/v1/live/{id}/whip  SDP offer (application/sdp) -> 201 SDP answer, Location
    GET    /api/v1/live/{id}       the session: status, seconds streamed, credits, latency
    DELETE /api/v1/live/{id}       end it -> the session as ended

As on every other route, the key is checked by the job service first (a `GetAccount` call,
which also charges the key's read budget and gives the X-RateLimit-* headers); the call then
goes, with the same key, to the live service, which resolves the account again from the key
itself and never takes the proxy's word for it. The proxy reaches the live role over gRPC
only (`LIPSYNC_LIVE_ADDR`), never Redis.
"""

from __future__ import annotations

import json

import grpc
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from protos.lipsync.v1 import jobs_pb2, live_pb2, live_pb2_grpc
from proxy.clients import call_metadata, job_stub, open_channel
from proxy.error_responses import ApiError, bad_request
from proxy.response_headers import passed_headers
from proxy.transcoder import DEFAULT_DEADLINE
from services.core.settings import Settings

LIVE_PATH = "/api/v1/live"
SDP_TYPE = "application/sdp"
OFFER_DEADLINE = 30.0  # the answer waits for ICE candidate gathering (STUN/TURN round trips)


def _stub(request: Request) -> live_pb2_grpc.LiveServiceStub:
    state = request.app.state
    if getattr(state, "live_stub", None) is None:
        settings: Settings = state.settings
        state.live_channel = open_channel(settings.live_addr)
        state.live_stub = live_pb2_grpc.LiveServiceStub(state.live_channel)
    stub: live_pb2_grpc.LiveServiceStub = state.live_stub
    return stub


async def close(app: Starlette) -> None:
    """Close the live service's channel, if a request opened it (the app's lifespan calls this)."""
    channel: grpc.aio.Channel | None = getattr(app.state, "live_channel", None)
    if channel is not None:
        await channel.close()


async def _authorize(request: Request) -> dict[str, str]:
    """The job service checks the key (401s, 429s as everywhere); its budget headers."""
    check = job_stub(request).GetAccount(jobs_pb2.GetAccountRequest(), metadata=call_metadata(request),
                                         timeout=DEFAULT_DEADLINE)
    await check
    return passed_headers(await check.initial_metadata())


def _session_json(session: live_pb2.LiveSession) -> dict[str, object]:
    return json_format.MessageToDict(session, always_print_fields_with_no_presence=True)


async def create(request: Request) -> Response:
    headers = await _authorize(request)
    try:
        body = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body must be JSON: {\"formState\": {\"image\": ...}}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object: {\"formState\": {...}}")
    message = live_pb2.CreateLiveSessionRequest()
    try:
        json_format.ParseDict(body, message)
    except json_format.ParseError as exc:
        raise bad_request(f"Invalid request: {exc}", field="formState") from None
    call = _stub(request).CreateSession(message, metadata=call_metadata(request),
                                        timeout=DEFAULT_DEADLINE)
    session = await call
    headers |= passed_headers(await call.initial_metadata())
    headers["Location"] = f"{LIVE_PATH}/{session.id}"
    return JSONResponse(_session_json(session), status_code=201, headers=headers)


async def whip(request: Request) -> Response:
    headers = await _authorize(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != SDP_TYPE:
        raise ApiError(415, "unsupported_media_type",
                       f"Send the SDP offer as the body with Content-Type: {SDP_TYPE}")
    try:
        sdp = (await request.body()).decode()
    except UnicodeDecodeError:
        raise bad_request("The SDP offer must be UTF-8 text", field="sdp") from None
    session_id = request.path_params["id"]
    answer = await _stub(request).Offer(live_pb2.LiveOfferRequest(id=session_id, sdp=sdp),
                                        metadata=call_metadata(request), timeout=OFFER_DEADLINE)
    headers["Location"] = f"{LIVE_PATH}/{session_id}"
    return Response(answer.sdp, status_code=201, media_type=SDP_TYPE, headers=headers)


async def read(request: Request) -> Response:
    headers = await _authorize(request)
    session = await _stub(request).GetSession(live_pb2.LiveSessionRequest(id=request.path_params["id"]),
                                              metadata=call_metadata(request), timeout=DEFAULT_DEADLINE)
    return JSONResponse(_session_json(session), headers=headers)


async def end(request: Request) -> Response:
    headers = await _authorize(request)
    session = await _stub(request).EndSession(live_pb2.LiveSessionRequest(id=request.path_params["id"]),
                                              metadata=call_metadata(request), timeout=DEFAULT_DEADLINE)
    return JSONResponse(_session_json(session), headers=headers)


ROUTES = [
    Route(LIVE_PATH, create, methods=["POST"]),
    Route(LIVE_PATH + "/{id}/whip", whip, methods=["POST"]),
    Route(LIVE_PATH + "/{id}", read, methods=["GET"]),
    Route(LIVE_PATH + "/{id}", end, methods=["DELETE"]),
]
