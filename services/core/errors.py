"""Domain errors of the services, and the one table that turns them into gRPC statuses.

ServiceError
 +-- InvalidArgument      a request field is wrong (names the field)      -> INVALID_ARGUMENT
 +-- Unauthenticated      missing, malformed, unknown or revoked key       -> UNAUTHENTICATED
 +-- PermissionDenied     authenticated but not allowed (admin calls)      -> PERMISSION_DENIED
 +-- NotFound             no such job for this account                    -> NOT_FOUND
 +-- InsufficientCredits  not enough credits; nothing was queued           -> FAILED_PRECONDITION
 +-- Conflict             e.g. the job already finished                    -> FAILED_PRECONDITION
 +-- IdempotencyConflict  an Idempotency-Key reused for another request    -> ABORTED
 +-- RateLimited          the key's request budget is spent (RetryInfo)    -> RESOURCE_EXHAUSTED
 |    +-- TooManyJobs     the account's concurrent-jobs cap is reached     -> RESOURCE_EXHAUSTED
 +-- Unavailable          a dependency (Redis, Triton) is down             -> UNAVAILABLE

Nothing else builds gRPC status codes by hand. The proxy maps gRPC codes to HTTP in its own
single table; `InsufficientCredits` carries the reason "INSUFFICIENT_CREDITS" so the proxy can
answer 402 for it. An error with `retry_after` carries it as google.rpc.RetryInfo (the proxy's
`Retry-After`).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class ServiceError(Exception):
    code = grpc.StatusCode.INTERNAL
    reason = ""
    retry_after: float | None = None  # seconds, when waiting is what fixes it

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class InsufficientCredits(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "INSUFFICIENT_CREDITS"


class Conflict(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "CONFLICT"


class IdempotencyConflict(ServiceError):
    code = grpc.StatusCode.ABORTED
    reason = "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyJobs(RateLimited):
    reason = "TOO_MANY_CONCURRENT_JOBS"


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class ModelServerUnavailable(Unavailable):
    """The model server did not answer, even after retries; the work can be tried again later."""


DOMAIN = "lipsync.v1"


def to_status(error: ServiceError) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo (the reason) and, for a field, BadRequest details."""
    details = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN))
    details.append(info)
    if error.field:
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)]))
        details.append(bad)
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(error.retry_after * 1e9))
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(retry)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=details)


def to_rpc_status(error: ServiceError) -> grpc.Status:
    return rpc_status.to_status(to_status(error))


def details_of(status: status_pb2.Status) -> tuple[str, str | None]:
    """(reason, field) from a status built by `to_status`."""
    reason, field = "", None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            if bad.field_violations:
                field = bad.field_violations[0].field
    return reason, field


