"""Request body caps, enforced while the body arrives.

A declared `Content-Length` over the cap is refused before anything is read. A body without one
(chunked) is counted as it is received, and the read that crosses the cap raises `ApiError`
413, which the central handlers answer; nothing past the cap is ever buffered.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.error_responses import ApiError, error_response


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large",
                    f"The request body is larger than the limit of {_size(limit)}")


class BodyLimitMiddleware:
    """`limit` bytes for every body, except the paths in `overrides` (e.g. uploads)."""

    def __init__(self, app: ASGIApp, limit: int, overrides: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope["path"], self.limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            request_id = scope.get("state", {}).get("request_id")
            await error_response(too_large(limit), request_id)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = bytes(value).decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _size(n: int) -> str:
    """"1 MiB" for a round size, else the exact bytes: a client sizing its body needs the cap."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
