"""The caller's API key, as Starlette authentication.

The proxy only reads the header's shape (`Authorization: Bearer <token>`); whether the key
exists, belongs to an account and is not revoked is the job service's decision, made on every
call from the `authorization` metadata the proxy forwards. So one place knows keys, and
internal gRPC callers get exactly the same checks. Routes that need no key (health, signed
file links) ignore the header, whatever it holds.
"""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection, Request

from proxy.error_responses import ApiError

MISSING = "Missing API key: send `Authorization: Bearer sk_...`"
MALFORMED = "The Authorization header must read `Bearer sk_...`"
# Keys are ~60 characters. A longer token is no key of ours, and forwarded as gRPC metadata it
# could pass the channel's metadata size limit (a local RESOURCE_EXHAUSTED, not a 401).
MAX_TOKEN_LENGTH = 256


class ApiKeyUser(BaseUser):
    def __init__(self, token: str) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return "api key"  # never the key itself: this may end up in logs

    def __repr__(self) -> str:
        return "ApiKeyUser(token=<hidden>)"


def _bearer_token(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    # gRPC metadata takes printable ASCII only; anything else is no key of ours anyway.
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH \
            or not (token.isascii() and token.isprintable()):
        return None
    return token


class BearerTokenBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = _bearer_token(conn.headers.get("authorization", ""))
        if token is None:
            return None  # anonymous; routes that need a key say why (see `api_key`)
        return AuthCredentials(["api_key"]), ApiKeyUser(token)


def api_key(request: Request) -> str:
    """The caller's token, or a 401 saying what is wrong with the header."""
    user = request.user
    if isinstance(user, ApiKeyUser):
        return user.token
    raise ApiError(401, "unauthenticated", MALFORMED if "authorization" in request.headers else MISSING)

