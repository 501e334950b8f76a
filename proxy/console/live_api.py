"""JSON endpoints of the console's live page, authorised by the session cookie plus the
`X-CSRF-Token` header; the calls go to the live service as the signed-in user (its
`Session` authorization), so the session is billed to the user's account.

    POST   /console/api/live             {"formState": {...}} -> the session (201)
    POST   /console/api/live/{id}/whip   the SDP offer -> the SDP answer (201)
    DELETE /console/api/live/{id}        end it -> the session
"""

from __future__ import annotations

import json

from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from protos.lipsync.v1 import live_pb2
from proxy.console.backend import session_metadata
from proxy.console.viewer import check_csrf, viewer_of
from proxy.error_responses import ApiError, bad_request
from proxy.live_routes import OFFER_DEADLINE, SDP_TYPE, live_stub
from proxy.transcoder import DEFAULT_DEADLINE

SIGNED_OUT = ApiError(401, "unauthenticated", "Sign in to the console first")


async def _signed_in(request: Request) -> None:
    viewer = await viewer_of(request)
    if viewer is None:
        raise SIGNED_OUT
    check_csrf(request, viewer, None)


def _json(session: live_pb2.LiveSession, status: int = 200) -> Response:
    return JSONResponse(json_format.MessageToDict(session, always_print_fields_with_no_presence=True),
                        status_code=status, headers={"Cache-Control": "no-store"})


async def create(request: Request) -> Response:
    await _signed_in(request)
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body must be JSON: {\"formState\": {\"image\": ...}}") from None
    message = live_pb2.CreateLiveSessionRequest()
    try:
        json_format.ParseDict(body, message)
    except (json_format.ParseError, TypeError, AttributeError) as error:
        raise bad_request(f"Invalid request: {error}") from None
    session = await live_stub(request).CreateSession(message, metadata=session_metadata(request),
                                                     timeout=DEFAULT_DEADLINE)
    return _json(session, 201)


async def whip(request: Request) -> Response:
    await _signed_in(request)
    try:
        sdp = (await request.body()).decode()
    except UnicodeDecodeError:
        raise bad_request("The SDP offer must be UTF-8 text", field="sdp") from None
    answer = await live_stub(request).Offer(
        live_pb2.LiveOfferRequest(id=str(request.path_params["id"])[:64], sdp=sdp),
        metadata=session_metadata(request), timeout=OFFER_DEADLINE)
    return Response(answer.sdp, status_code=201, media_type=SDP_TYPE)


async def end(request: Request) -> Response:
    await _signed_in(request)
    session = await live_stub(request).EndSession(
        live_pb2.LiveSessionRequest(id=str(request.path_params["id"])[:64]),
        metadata=session_metadata(request), timeout=DEFAULT_DEADLINE)
    return _json(session)
