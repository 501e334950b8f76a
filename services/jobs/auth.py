"""Who is calling: the API key in the `authorization` metadata, as `Bearer sk_<id>_<secret>`."""

from __future__ import annotations

import hmac

import grpc

from services.core.errors import PermissionDenied, Unauthenticated
from services.core.settings import Settings


def bearer_token(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("The Authorization header must read `Bearer sk_...`")
            return token.strip()
    raise Unauthenticated("Missing API key: send `Authorization: Bearer sk_...`")


def require_admin(context: grpc.aio.ServicerContext, settings: Settings) -> None:
    token = bearer_token(context)
    if not settings.admin_token:
        raise PermissionDenied("Administration over gRPC is off: set LIPSYNC_ADMIN_TOKEN")
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise Unauthenticated("Invalid admin token")
