"""The console's pages: a registry of (path, nav title, template, loader), and what each loads.

Adding a page (e.g. `/console/live`): write `templates/live.html` (extending `page.html`), add a
`Page` to `PAGES` with a loader that returns the template's variables (`no_data` if it needs
none), and translate its new strings (`python -m proxy.console.catalogs`). The route, the
sign-in requirement, the nav entry and the language handling come with the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from protos.lipsync.v1 import console_pb2
from proxy.console.api_reference import reference_of
from proxy.console.backend import DEADLINE, console_stub, session_metadata
from proxy.console.i18n import N_
from proxy.console.rendering import render
from proxy.console.viewer import Viewer, pre_session_token, set_pre_session_cookie, viewer_of
from proxy.jsonmap import message_to_json_dict
from services.core.billing import CREDITS_PER_SECOND, MINIMUM_SECONDS

Loader = Callable[[Request, Viewer], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Page:
    name: str  # the nav's id and the template's name (`<name>.html`)
    path: str  # under /console
    title: str  # an English msgid, translated when shown
    load: Loader
    admin_only: bool = False


async def no_data(request: Request, viewer: Viewer) -> dict[str, Any]:
    return {}


def pricing() -> dict[str, Any]:
    return {"credits_per_second": CREDITS_PER_SECOND, "minimum_seconds": MINIMUM_SECONDS}


async def load_home(request: Request, viewer: Viewer) -> dict[str, Any]:
    jobs = await console_stub(request).ListJobs(console_pb2.ListConsoleJobsRequest(limit=5),
                                                metadata=session_metadata(request), timeout=DEADLINE)
    return {"jobs": [_job_view(j) for j in jobs.jobs], **pricing()}


async def load_keys(request: Request, viewer: Viewer) -> dict[str, Any]:
    listed = await console_stub(request).ListKeys(console_pb2.ListConsoleKeysRequest(),
                                                  metadata=session_metadata(request), timeout=DEADLINE)
    return {"keys": list(reversed(listed.keys)), "created": None, "error": None}


async def load_usage(request: Request, viewer: Viewer) -> dict[str, Any]:
    stub, metadata = console_stub(request), session_metadata(request)
    usage = await stub.GetUsage(console_pb2.GetUsageRequest(limit=200), metadata=metadata, timeout=DEADLINE)
    accounts = None
    if viewer.user.admin:
        accounts = (await stub.ListAccounts(console_pb2.ListAccountsRequest(), metadata=metadata,
                                            timeout=DEADLINE)).accounts
    return {"usage": usage, "accounts": accounts, "error": None, **pricing()}


async def load_jobs(request: Request, viewer: Viewer) -> dict[str, Any]:
    before = request.query_params.get("before", "")
    listed = await console_stub(request).ListJobs(
        console_pb2.ListConsoleJobsRequest(limit=25, before=before[:64]),
        metadata=session_metadata(request), timeout=DEADLINE)
    jobs = [_job_view(j) for j in listed.jobs]
    return {"jobs": jobs, "next_before": jobs[-1]["id"] if len(jobs) == 25 else ""}


async def load_playground(request: Request, viewer: Viewer) -> dict[str, Any]:
    return {"base_url": request.app.state.settings.public_url, **pricing()}


async def load_live(request: Request, viewer: Viewer) -> dict[str, Any]:
    return pricing()  # the page's script does the rest (proxy/console/live_api.py)


async def load_docs(request: Request, viewer: Viewer) -> dict[str, Any]:
    return {"reference": reference_of(request.app.state.openapi)}


def _job_view(console_job: console_pb2.ConsoleJob) -> dict[str, Any]:
    """A job for the templates: its public JSON plus the key and its webhook deliveries."""
    job = message_to_json_dict(console_job.job)
    return {**job, "key_id": console_job.key_id, "key_name": console_job.key_name,
            "webhook": console_job.webhook,
            "deliveries": [MessageToDict(d, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
                           for d in console_job.deliveries]}


PAGES: tuple[Page, ...] = (
    Page("home", "/", N_("Home"), load_home),
    Page("keys", "/keys", N_("API keys"), load_keys),
    Page("usage", "/usage", N_("Credits and usage"), load_usage),
    Page("playground", "/playground", N_("Playground"), load_playground),
    Page("live", "/live", N_("Live"), load_live),
    Page("jobs", "/jobs", N_("Jobs"), load_jobs),
    Page("docs", "/docs", N_("API reference"), load_docs),
)


def page_context(request: Request, viewer: Viewer, page: Page) -> dict[str, Any]:
    return {"viewer": viewer, "pages": PAGES, "page": page, "csrf_token": viewer.csrf_token}


def sign_in_page(request: Request, error: str | None = None, status: int = 200,
                 email: str = "", signup: bool = False, signup_open: bool = False) -> Response:
    token = pre_session_token(request)
    response = render(request, "sign_up.html" if signup else "sign_in.html", {
        "pre_session_token": token, "error": error, "email": email, "signup_open": signup_open,
        "next": safe_next(request.query_params.get("next", ""))}, status)
    set_pre_session_cookie(request, response, token)
    return response


def safe_next(target: str) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if target.startswith("/console/") and not target.startswith("/console//") and "\\" not in target:
        return target
    return "/console/"


def page_route(page: Page) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            if page.path == "/":
                return sign_in_page(request, signup_open=request.app.state.settings.console_signup)
            return RedirectResponse(f"/console/?next=/console{page.path}", status_code=303)
        data = await page.load(request, viewer)
        return render(request, f"{page.name}.html", {**page_context(request, viewer, page), **data})

    return handler


def find_page(name: str) -> Page:
    return next(p for p in PAGES if p.name == name)


def is_signed_out(error: grpc.aio.AioRpcError) -> bool:
    return error.code() is grpc.StatusCode.UNAUTHENTICATED
