"""Who is calling the ConsoleService: the session token in `authorization: Session <token>`."""

from __future__ import annotations

import grpc

from services.core.errors import Unauthenticated
from services.store.sessions import SIGNED_OUT

SCHEME = "session"


def session_token(context: grpc.aio.ServicerContext, required: bool = True) -> str:
    """The caller's session token; "" when there is none and none is `required`."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == SCHEME and token.strip():
                return token.strip()
    if required:
        raise Unauthenticated(SIGNED_OUT)
    return ""
