"""The signed-in user of a console request, its session cookie and the CSRF checks.

Signed in, a state-changing request must repeat the session's CSRF token (form field
`csrf_token`, or the `X-CSRF-Token` header from the page's script). Before sign-in there is no
session, so the sign-in and sign-up forms use a double-submit token: a random HttpOnly cookie
that the form repeats; another site can neither read it nor set it (SameSite=Strict).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import grpc
from starlette.requests import Request
from starlette.responses import Response

from protos.lipsync.v1 import console_pb2
from proxy.console.backend import DEADLINE, SESSION_COOKIE, console_stub, session_metadata

PATH = "/console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
PRE_SESSION_COOKIE = "lipsync_csrf"
SIGNED_OUT_CODES = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND)


class CsrfRejected(Exception):
    """A state-changing request without the right CSRF token (answered 403)."""


@dataclass(frozen=True)
class Viewer:
    user: console_pb2.User
    csrf_token: str
    credits: int
    signup_open: bool


async def viewer_of(request: Request) -> Viewer | None:
    """The signed-in user, or None (no cookie, or a session that has ended)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        info = await console_stub(request).GetSession(
            console_pb2.GetSessionRequest(), metadata=session_metadata(request), timeout=DEADLINE)
    except grpc.aio.AioRpcError as error:
        if error.code() in SIGNED_OUT_CODES:
            return None
        raise
    return Viewer(info.user, info.csrf_token, info.credits, info.signup_open)


def _secure(request: Request) -> bool:
    """Cookies are Secure when the console is served over HTTPS (or deployed behind it)."""
    return request.url.scheme == "https" or request.app.state.settings.public_url.startswith("https://")


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path=PATH, httponly=True,
                        samesite="lax", secure=_secure(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="lax",
                           secure=_secure(request))


def check_csrf(request: Request, viewer: Viewer, submitted: str | None) -> None:
    token = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    if not token or not hmac.compare_digest(token.encode(), viewer.csrf_token.encode()):
        raise CsrfRejected


def pre_session_token(request: Request) -> str:
    """The double-submit token of the sign-in form: the browser's, or a new one."""
    token = request.cookies.get(PRE_SESSION_COOKIE, "")
    return token if len(token) == 43 and token.isascii() else secrets.token_urlsafe(32)


def set_pre_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(PRE_SESSION_COOKIE, token, max_age=3600, path=PATH, httponly=True,
                        samesite="strict", secure=_secure(request))


def check_pre_session(request: Request, submitted: str) -> None:
    cookie = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected
