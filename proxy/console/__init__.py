"""The web console at /console/ (issue 12): sign in, API keys, credits and usage, a
playground, jobs with their webhook deliveries, the API reference; in English, Japanese and
Arabic.

Server-rendered (Jinja2) with one small script of our own (static/console.js), served by the
proxy. Like the REST routes it holds no data: every page calls the ConsoleService over the
proxy's gRPC channel to the job service. `console_mount(settings)` is what `proxy.app` mounts.

Modules: pages (the page registry and what each page loads), actions (form posts),
playground_api (the script's JSON endpoints), viewer (session cookie, CSRF), backend (gRPC
calls), i18n and rendering (languages, templates), security (CSP), api_reference (OpenAPI to
tables), catalogs (message extraction and checks).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from proxy.console import actions, i18n, live_api, playground_api
from proxy.console.pages import PAGES, page_route
from proxy.console.rendering import render
from proxy.console.security import security_headers
from proxy.console.viewer import PATH, CsrfRejected
from proxy.error_responses import ApiError, from_rpc_error

STATIC = Path(__file__).parent / "static"
UPLOAD_PATH = playground_api.UPLOAD_PATH
Handler = Callable[[Request], Awaitable[Response]]


class LanguageMiddleware(BaseHTTPMiddleware):
    """Picks the request's language; `?lang=` is remembered in a cookie."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        asked = request.query_params.get("lang")
        code = i18n.choose(asked, request.cookies.get(i18n.COOKIE),
                           request.headers.get("accept-language", ""))
        request.state.console_lang = i18n.language(code)
        response = await call_next(request)
        if asked in i18n.LANGUAGES:
            response.set_cookie(i18n.COOKIE, code, max_age=365 * 24 * 3600, path=PATH, samesite="lax",
                                httponly=True)
        return response


def _error_page(request: Request, status: int) -> Response:
    return render(request, "error.html", {"status": status}, status)


def html_errors(handler: Handler) -> Handler:
    """Errors of a page or form as a page in the user's language (never a bare 500)."""

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except CsrfRejected:
            return _error_page(request, 403)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.UNAUTHENTICATED:
                return RedirectResponse("/console/", status_code=303)
            status = from_rpc_error(error).status
            return _error_page(request, status if status in (400, 403, 404, 429, 503, 504) else 500)

    return route


def json_errors(handler: Handler) -> Handler:
    """The script's endpoints answer the public API's JSON errors; a missing CSRF header is 403."""

    async def route(request: Request) -> Response:
        try:
            response = await handler(request)
        except CsrfRejected:
            raise ApiError(403, "csrf", "Missing or wrong X-CSRF-Token header: reload the page") from None
        response.headers.update(security_headers(request))
        return response

    return route


def console_mount() -> Mount:
    routes: list[BaseRoute] = [
        Route(p.path, html_errors(page_route(p)), methods=["GET"], name=f"console-{p.name}") for p in PAGES]
    routes += [
        Route("/sign-in", html_errors(actions.sign_in), methods=["POST"]),
        Route("/sign-up", html_errors(actions.sign_up_form), methods=["GET"]),
        Route("/sign-up", html_errors(actions.sign_up), methods=["POST"]),
        Route("/sign-out", html_errors(actions.sign_out), methods=["POST"]),
        Route("/keys", html_errors(actions.create_key), methods=["POST"]),
        Route("/keys/{key_id}/revoke", html_errors(actions.revoke_key), methods=["POST"]),
        Route("/usage/credits", html_errors(actions.add_credits), methods=["POST"]),
        Route("/usage.csv", json_errors(playground_api.usage_csv), methods=["GET"]),
        Route("/api/files", json_errors(playground_api.upload), methods=["POST"]),
        Route("/api/jobs", json_errors(playground_api.submit), methods=["POST"]),
        Route("/api/jobs/{job_id}", json_errors(playground_api.job), methods=["GET"]),
        Route("/api/live", json_errors(live_api.create), methods=["POST"]),
        Route("/api/live/{id}/whip", json_errors(live_api.whip), methods=["POST"]),
        Route("/api/live/{id}", json_errors(live_api.end), methods=["DELETE"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"),
    ]
    return Mount(PATH, routes=routes, middleware=[Middleware(LanguageMiddleware)])
