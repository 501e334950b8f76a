"""The exceptions the client raises, as a tree:

    LipsyncError                  anything this package raises
    ├── APIError                  the API answered an error (status, code, field, request_id)
    │   ├── InvalidRequest        400: a bad field (`field` names it) or request
    │   ├── AuthenticationError   401: no key, or not a valid one
    │   ├── InsufficientCredits   402: the account cannot pay for the job; nothing was queued
    │   ├── NotFound              404: no such job (or another account's)
    │   ├── Conflict              409: an Idempotency-Key reused for another request; a finished job
    │   ├── RateLimited           429: a request budget is spent; `retry_after` seconds
    │   └── ServerError           5xx: the service could not answer (retried first where safe)
    ├── APIConnectionError        the service could not be reached (after the retries)
    ├── WaitTimeout               wait() gave up (also a TimeoutError)
    └── InvalidSignature          verify_webhook(): not a genuine, fresh delivery (also a ValueError)
"""

from __future__ import annotations

from typing import Any


class LipsyncError(Exception):
    """Anything this package raises."""


class APIError(LipsyncError):
    """The API answered an error: `{"error", "code", "field"}` with an HTTP status."""

    def __init__(self, message: str, *, status: int, code: str = "", field: str | None = None,
                 request_id: str | None = None, body: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, where the answer said (Retry-After)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        return self.message


class InvalidRequest(APIError):
    """400: the request or one of its fields (`field`, a JSON path such as `formState.seed`)."""


class AuthenticationError(APIError):
    """401: the API key is missing, malformed, unknown or revoked."""


class InsufficientCredits(APIError):
    """402: not enough API credits for the job; nothing was queued."""


class NotFound(APIError):
    """404: no such job, or it belongs to another account."""


class Conflict(APIError):
    """409: an Idempotency-Key already used for a different request, or a job already finished."""


class RateLimited(APIError):
    """429: a request budget of the key (or the account's concurrent jobs) is spent."""

    retry_after: float  # seconds until the budget allows the request again

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, retry_after=1.0 if retry_after is None else retry_after, **kwargs)


class ServerError(APIError):
    """5xx: the service failed or could not take work now."""


class APIConnectionError(LipsyncError):
    """The service could not be reached, or the connection broke, on every try."""


class WaitTimeout(LipsyncError, TimeoutError):
    """wait() reached its timeout before the job ended; `job` is its last known state."""

    def __init__(self, message: str, job: Any = None) -> None:
        super().__init__(message)
        self.job = job


class InvalidSignature(LipsyncError, ValueError):
    """A webhook that is not a genuine, fresh delivery signed with the secret."""


_BY_STATUS: dict[int, type[APIError]] = {400: InvalidRequest, 401: AuthenticationError,
                                         402: InsufficientCredits, 404: NotFound, 409: Conflict}


def error_from_response(status: int, body: Any, headers: Any) -> APIError:
    """The typed error of an error answer (`headers`: a case-insensitive mapping)."""
    data = body if isinstance(body, dict) else {}
    message = str(data.get("error") or f"HTTP {status}")
    kwargs: dict[str, Any] = {"status": status, "code": str(data.get("code") or ""),
                              "field": data.get("field"), "request_id": headers.get("x-request-id"),
                              "body": body, "retry_after": retry_after_seconds(headers)}
    if status == 429:
        return RateLimited(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return _BY_STATUS.get(status, APIError)(message, **kwargs)


def retry_after_seconds(headers: Any) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
