"""Every error the proxy answers, as one JSON shape, mapped in one place.

    {"error": "<a message a person can act on>", "code": "<machine code>", "field": "<json path>"}

(`field` only when one field is at fault.) Where errors come from:

    ApiError            raised by the proxy itself: bad JSON, body too large, bad link ...
    grpc.aio.AioRpcError the job service's answer; its google.rpc.Status carries the reason
                        (ErrorInfo) and the field (BadRequest); `GRPC_TO_HTTP` picks the status
    HTTPException       Starlette's routing: unknown path 404, wrong method 405
    anything else       a bug: logged with the request id, answered 500 with a generic body

`EXCEPTION_HANDLERS` is what the app registers; nothing else builds an error response.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.response_headers import passed_headers
from services.core.errors import details_of

log = logging.getLogger(__name__)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
OUTAGE_MESSAGE = "The service cannot take work right now"
RETRY_AFTER_OUTAGE = "5"  # seconds; a restarting job service is back within that, usually

# The google.rpc.Code -> HTTP mapping (as grpc-gateway and Envoy use it), with one exception
# below: FAILED_PRECONDITION for lack of credits is 402, as the public contract says.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# A 5xx never shows the service's own message (it may name internals), but one of these.
_SERVER_SIDE_MESSAGES = {503: OUTAGE_MESSAGE, 504: "The service did not answer in time"}


class ApiError(Exception):
    """An error the proxy answers as is."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "invalid_argument", message, field)


def error_response(error: ApiError, request_id: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error.message, "code": error.code}
    if error.field:
        body["field"] = error.field
    headers = dict(error.headers)
    if request_id:
        headers["x-request-id"] = request_id
    return JSONResponse(body, status_code=error.status, headers=headers)


def http_status(code: grpc.StatusCode, reason: str = "") -> int:
    if code is grpc.StatusCode.FAILED_PRECONDITION and reason == INSUFFICIENT_CREDITS:
        return 402
    return GRPC_TO_HTTP.get(code, 500)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status the service attached, if any."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def from_rpc_error(error: grpc.aio.AioRpcError) -> ApiError:
    code = error.code()
    status = rich_status(error)
    reason, field = details_of(status) if status is not None else ("", None)
    http = http_status(code, reason)
    message = error.details() or "The request failed"
    if http >= 500:
        message = _SERVER_SIDE_MESSAGES.get(http, "Internal error")
        field = None
    headers = passed_headers(error.initial_metadata(), error.trailing_metadata())
    retry = _retry_after(status)
    if retry is not None:
        headers["Retry-After"] = retry
    elif http == 503:
        headers["Retry-After"] = RETRY_AFTER_OUTAGE
    machine = (reason or code.name).lower() if http != 500 else "internal"
    return ApiError(http, machine, message, field, headers)


def _retry_after(status: status_pb2.Status | None) -> str | None:
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            # Rounded up: a client waiting exactly this long must not be refused again.
            return str(max(1, math.ceil(info.retry_delay.ToTimedelta().total_seconds())))
    return None


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, request_id_of(request))


async def _rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    error = from_rpc_error(exc)
    if error.status == 500:
        log.error("job service error %s: %s (request %s)", exc.code().name, exc.details(),
                  request_id_of(request))
    elif error.status == 503:
        log.warning("job service unavailable: %s (request %s)", exc.details(), request_id_of(request))
    return error_response(error, request_id_of(request))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if exc.detail != phrase else _ROUTING_MESSAGES.get(exc.status_code, phrase)
    error = ApiError(exc.status_code, code, message, headers=dict(exc.headers or {}))
    return error_response(error, request_id_of(request))


_ROUTING_MESSAGES = {404: "No such route", 405: "This route does not accept that method"}


async def _unexpected(request: Request, exc: Exception) -> Response:
    request_id = request_id_of(request)
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    return error_response(ApiError(500, "internal", "Internal error"), request_id)


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    grpc.aio.AioRpcError: _rpc_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
