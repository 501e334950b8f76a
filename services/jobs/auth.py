"""Who is calling: the API key in the `authorization` metadata, as `Bearer sk_<id>_<secret>`."""

from __future__ import annotations

import hmac

import grpc

from services.errors import PermissionDenied, Unauthenticated
from services.settings import Settings
from services.store.accounts import AccountStore


def bearer_token(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("The Authorization header must read `Bearer sk_...`")
            return token.strip()
    raise Unauthenticated("Missing API key: send `Authorization: Bearer sk_...`")


async def caller_account(context: grpc.aio.ServicerContext, accounts: AccountStore) -> str:
    account, _ = await accounts.authenticate(bearer_token(context))
    return account


def require_admin(context: grpc.aio.ServicerContext, settings: Settings) -> None:
    token = bearer_token(context)
    if not settings.admin_token:
        raise PermissionDenied("Administration over gRPC is off: set LIPSYNC_ADMIN_TOKEN")
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise Unauthenticated("Invalid admin token")
