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
from typing import Any

import grpc
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from protos.lipsync.v1 import jobs_pb2, live_pb2, live_pb2_grpc
from proxy.clients import call_metadata, job_stub, open_channel
from proxy.error_responses import ApiError, bad_request
from proxy.openapi import RATE_LIMIT_HEADERS, response_ref
from proxy.response_headers import passed_headers
from proxy.transcoder import DEFAULT_DEADLINE
from services.core.settings import Settings

LIVE_PATH = "/api/v1/live"
SDP_TYPE = "application/sdp"
OFFER_DEADLINE = 30.0  # the answer waits for ICE candidate gathering (STUN/TURN round trips)


def live_stub(request: Request) -> live_pb2_grpc.LiveServiceStub:
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
    call = live_stub(request).CreateSession(message, metadata=call_metadata(request),
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
    answer = await live_stub(request).Offer(live_pb2.LiveOfferRequest(id=session_id, sdp=sdp),
                                        metadata=call_metadata(request), timeout=OFFER_DEADLINE)
    headers["Location"] = f"{LIVE_PATH}/{session_id}"
    return Response(answer.sdp, status_code=201, media_type=SDP_TYPE, headers=headers)


async def read(request: Request) -> Response:
    headers = await _authorize(request)
    session = await live_stub(request).GetSession(live_pb2.LiveSessionRequest(id=request.path_params["id"]),
                                              metadata=call_metadata(request), timeout=DEFAULT_DEADLINE)
    return JSONResponse(_session_json(session), headers=headers)


async def end(request: Request) -> Response:
    headers = await _authorize(request)
    session = await live_stub(request).EndSession(live_pb2.LiveSessionRequest(id=request.path_params["id"]),
                                              metadata=call_metadata(request), timeout=DEFAULT_DEADLINE)
    return JSONResponse(_session_json(session), headers=headers)


async def session(request: Request) -> Response:
    """GET or DELETE: one route, so a 405 lists both methods in `Allow`."""
    return await (end(request) if request.method == "DELETE" else read(request))


ROUTES = [
    Route(LIVE_PATH, create, methods=["POST"]),
    Route(LIVE_PATH + "/{id}/whip", whip, methods=["POST"]),
    Route(LIVE_PATH + "/{id}", session, methods=["GET", "DELETE"]),
]



_ERRORS = {status: response_ref(name) for status, name in {
    "400": "BadRequest", "401": "Unauthenticated", "404": "NotFound", "429": "RateLimited",
    "500": "InternalError", "503": "Unavailable", "504": "Timeout"}.items()}
_BUDGET = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
_SESSION = {"application/json": {"schema": {"$ref": "#/components/schemas/LiveSession"}}}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]

OPENAPI_PATHS: dict[str, Any] = {
    LIVE_PATH: {"post": {
        "operationId": "CreateLiveSession", "tags": ["live"],
        "summary": "Start a live session (extension): a portrait that speaks what you stream",
        "description": "Then POST an SDP offer to `whip` (WebRTC, WHIP-style) within "
                       "`expiresAt`: send an audio track, receive the portrait's video and the same "
                       "audio. Billed per second streamed at the image rate of the resolution "
                       "(at least 5 s). docs/live.md.",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/CreateLiveSessionRequest"}}}},
        "responses": {"201": {"description": "Created", "headers": _BUDGET, "content": _SESSION},
                      **_ERRORS, "402": response_ref("InsufficientCredits")}}},
    LIVE_PATH + "/{id}/whip": {"post": {
        "operationId": "LiveSessionOffer", "tags": ["live"], "parameters": _ID,
        "summary": "Connect: the SDP offer in, the SDP answer out (WHIP, no trickle ICE)",
        "requestBody": {"required": True, "content": {SDP_TYPE: {"schema": {"type": "string"}}}},
        "responses": {"201": {"description": "The SDP answer", "headers": _BUDGET,
                              "content": {SDP_TYPE: {"schema": {"type": "string"}}}},
                      **_ERRORS, "415": {"description": "The body is not application/sdp"}}}},
    LIVE_PATH + "/{id}": {
        "get": {"operationId": "GetLiveSession", "tags": ["live"], "parameters": _ID,
                "summary": "A live session: state, seconds streamed, credits, latency",
                "responses": {"200": {"description": "The session", "headers": _BUDGET,
                                      "content": _SESSION}, **_ERRORS}},
        "delete": {"operationId": "EndLiveSession", "tags": ["live"], "parameters": _ID,
                   "summary": "End a live session",
                   "responses": {"200": {"description": "The session, ended", "headers": _BUDGET,
                                         "content": _SESSION}, **_ERRORS}}},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "CreateLiveSessionRequest": {"type": "object", "required": ["formState"], "properties": {
        "formState": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "description": "URL of the portrait"},
            "resolution": {"type": "string", "enum": ["480p", "720p"]},
            "prompt": {"type": "string", "description": "style words, as for lipsync-image"},
            "seed": {"type": "integer", "description": "-1 or absent: random"}}}}},
    "LiveSession": {"type": "object", "required": ["id", "status", "whip"], "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["waiting", "live", "ended"]},
        "whip": {"type": "string", "description": "where to POST the SDP offer"},
        "expiresAt": {"type": "string"}, "createdAt": {"type": "string"},
        "resolution": {"type": "string"},
        "secondsStreamed": {"type": "number"}, "credits": {"type": "integer"},
        "endReason": {"type": "string"}, "fps": {"type": "number"},
        "droppedFrames": {"type": "integer"},
        "latencyMs": {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "sound-to-mouth latency by stage (p50/p99) and A/V offset, "
                                     "while the session runs"}}},
}
