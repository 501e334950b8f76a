"""The console's form posts: sign in, sign up, sign out, create and revoke keys, add credits.

Each checks its CSRF token first (403 without it), then calls the ConsoleService; a refused
input re-renders its page with the reason in the page's language (400), a success redirects
(303) or, for a new key, shows the secret once.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import grpc
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from protos.lipsync.v1 import console_pb2
from proxy.console.backend import DEADLINE, client_address, console_stub, session_metadata, session_of
from proxy.console.pages import find_page, load_keys, load_usage, page_context, safe_next, sign_in_page
from proxy.console.rendering import render
from proxy.console.viewer import (
    CSRF_FIELD,
    CsrfRejected,
    Viewer,
    check_csrf,
    check_pre_session,
    clear_session_cookie,
    set_session_cookie,
    viewer_of,
)
from proxy.error_responses import from_rpc_error

MAX_FORM_FIELD = 4096


async def _form(request: Request) -> FormData:
    form = await request.form(max_files=0, max_fields=20)
    for value in form.values():
        if isinstance(value, str) and len(value) > MAX_FORM_FIELD:
            raise CsrfRejected  # no console form has such a field: not one of ours
    return form


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _gettext(request: Request) -> Callable[[str], str]:
    gettext: Callable[[str], str] = request.state.console_lang.gettext
    return gettext


def signin_error(request: Request, error: grpc.aio.AioRpcError) -> str:
    """Why a sign-in (or sign-up) was refused, in the page's language."""
    _ = _gettext(request)
    api = from_rpc_error(error)
    if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
        wait = math.ceil(float(api.headers.get("Retry-After", "60")))
        return _("Too many sign-in attempts; try again in %(seconds)s s") % {"seconds": wait}
    if error.code() is grpc.StatusCode.UNAUTHENTICATED:
        return _("Wrong email or password")
    if error.code() is grpc.StatusCode.PERMISSION_DENIED:
        return _("Sign-up is closed: ask the operator for an account")
    if error.code() is grpc.StatusCode.FAILED_PRECONDITION:  # a user with that email exists
        return _("An account with this email already exists")
    if api.field == "email":
        return _("Enter an email address such as name@example.com")
    if api.field == "password":
        return _("The password must be 10 to 1024 characters long")
    raise error


async def sign_in(request: Request) -> Response:
    form = await _form(request)
    check_pre_session(request, _text(form, CSRF_FIELD))
    email = _text(form, "email")
    try:
        session = await console_stub(request).SignIn(console_pb2.SignInRequest(
            email=email, password=_text(form, "password"), client_address=client_address(request),
            replaces_session=session_of(request)), timeout=DEADLINE)
    except grpc.aio.AioRpcError as error:
        status = 429 if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED else 400
        return sign_in_page(request, signin_error(request, error), status, email=email[:254],
                            signup_open=request.app.state.settings.console_signup)
    response = RedirectResponse(safe_next(_text(form, "next")), status_code=303)
    set_session_cookie(request, response, session.token, request.app.state.settings.console_session_seconds)
    return response


async def sign_up_form(request: Request) -> Response:
    if not request.app.state.settings.console_signup:
        return RedirectResponse("/console/", status_code=303)
    return sign_in_page(request, signup=True)


async def sign_up(request: Request) -> Response:
    form = await _form(request)
    check_pre_session(request, _text(form, CSRF_FIELD))
    email = _text(form, "email")
    try:
        session = await console_stub(request).SignUp(console_pb2.SignUpRequest(
            email=email, password=_text(form, "password"), client_address=client_address(request)),
            timeout=DEADLINE)
    except grpc.aio.AioRpcError as error:
        status = 429 if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED else 400
        return sign_in_page(request, signin_error(request, error), status, email=email[:254], signup=True)
    response = RedirectResponse("/console/", status_code=303)
    set_session_cookie(request, response, session.token, request.app.state.settings.console_session_seconds)
    return response


def signed_in_action(handler: Callable[[Request, Viewer, FormData], Awaitable[Response]]
                     ) -> Callable[[Request], Awaitable[Response]]:
    """A post that needs a session and its CSRF token; signed out, it goes to the sign-in page."""

    async def route(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return RedirectResponse("/console/", status_code=303)
        form = await _form(request)
        check_csrf(request, viewer, _text(form, CSRF_FIELD))
        return await handler(request, viewer, form)

    return route


@signed_in_action
async def sign_out(request: Request, viewer: Viewer, form: FormData) -> Response:
    await console_stub(request).SignOut(console_pb2.SignOutRequest(), metadata=session_metadata(request),
                                        timeout=DEADLINE)
    response = RedirectResponse("/console/", status_code=303)
    clear_session_cookie(request, response)
    return response


@signed_in_action
async def create_key(request: Request, viewer: Viewer, form: FormData) -> Response:
    page = find_page("keys")
    _ = _gettext(request)
    try:
        created = await console_stub(request).CreateKey(
            console_pb2.CreateConsoleKeyRequest(name=_text(form, "name")),
            metadata=session_metadata(request), timeout=DEADLINE)
    except grpc.aio.AioRpcError as error:
        if error.code() is not grpc.StatusCode.INVALID_ARGUMENT:
            raise
        data = {**await load_keys(request, viewer),
                "error": _("A key's name is at most 100 printable characters")}
        return render(request, "keys.html", {**page_context(request, viewer, page), **data}, 400)
    data = {**await load_keys(request, viewer), "created": created}
    return render(request, "keys.html", {**page_context(request, viewer, page), **data})


@signed_in_action
async def revoke_key(request: Request, viewer: Viewer, form: FormData) -> Response:
    key_id = str(request.path_params["key_id"])
    if _text(form, "confirm") != "yes":  # without the page's script: ask on a page of its own
        return render(request, "revoke.html", {**page_context(request, viewer, find_page("keys")),
                                               "key_id": key_id})
    await console_stub(request).RevokeKey(console_pb2.RevokeConsoleKeyRequest(key_id=key_id),
                                          metadata=session_metadata(request), timeout=DEADLINE)
    return RedirectResponse(f"/console/keys?revoked={key_id}", status_code=303)


@signed_in_action
async def add_credits(request: Request, viewer: Viewer, form: FormData) -> Response:
    _ = _gettext(request)
    amount = _text(form, "credits").strip()
    error = None
    if not amount.isdigit() or not 1 <= int(amount) <= 1_000_000_000:
        error = _("Enter a whole number of credits between 1 and 1000000000")
    else:
        try:
            await console_stub(request).AddCredits(console_pb2.AddAccountCreditsRequest(
                account_id=_text(form, "account_id"), credits=int(amount)),
                metadata=session_metadata(request), timeout=DEADLINE)
        except grpc.aio.AioRpcError as failed:
            if failed.code() is not grpc.StatusCode.NOT_FOUND:
                raise
            error = _("No such account")
    if error is None:
        return RedirectResponse("/console/usage#accounts", status_code=303)
    page = find_page("usage")
    data = {**await load_usage(request, viewer), "error": error}
    return render(request, "usage.html", {**page_context(request, viewer, page), **data}, 400)
