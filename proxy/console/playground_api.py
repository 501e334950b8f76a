"""JSON endpoints of the console's own script (the playground), authorised by the session
cookie plus the `X-CSRF-Token` header on writes. Errors are the public API's JSON errors.

    POST /console/api/files          the raw file as the body -> {"url": signed link}
    POST /console/api/jobs           {"model", "webhook"?, "formState"} -> {"id", "status"}
    GET  /console/api/jobs/{id}      the job, as GET /api/v1/jobs/{id} answers it
    GET  /console/usage.csv          the usage history (CSV)
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from protos.lipsync.v1 import console_pb2
from proxy.console.backend import DEADLINE, console_stub, session_metadata
from proxy.console.viewer import Viewer, check_csrf, viewer_of
from proxy.error_responses import ApiError, bad_request
from proxy.files import store_upload
from proxy.jsonmap import json_dict_to_message, message_to_json_dict

UPLOAD_PATH = "/console/api/files"
ENDPOINTS = {"lipsync-video": "video", "lipsync-image": "image", "lipsync-image-multi": "image_multi"}
SIGNED_OUT = ApiError(401, "unauthenticated", "Sign in to the console first")


async def _viewer(request: Request, write: bool) -> Viewer:
    viewer = await viewer_of(request)
    if viewer is None:
        raise SIGNED_OUT
    if write:
        check_csrf(request, viewer, None)
    return viewer


async def upload(request: Request) -> Response:
    await _viewer(request, write=True)
    return JSONResponse({"url": await store_upload(request, request.app.state.settings)})


async def submit(request: Request) -> Response:
    await _viewer(request, write=True)
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body must be JSON: {\"model\": ..., \"formState\": {...}}") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object")
    model = body.pop("model", None)
    if model not in ENDPOINTS:
        raise bad_request("model must be lipsync-video, lipsync-image or lipsync-image-multi", "model")
    message = console_pb2.ConsoleSubmitRequest()
    try:
        json_dict_to_message(body, getattr(message, ENDPOINTS[model]))
    except json_format.ParseError as error:
        raise bad_request(f"Invalid request: {error}") from None
    answer = await console_stub(request).SubmitJob(message, metadata=session_metadata(request),
                                                   timeout=DEADLINE)
    return JSONResponse(message_to_json_dict(answer))


async def job(request: Request) -> Response:
    await _viewer(request, write=False)
    found = await console_stub(request).GetJob(
        console_pb2.GetConsoleJobRequest(id=str(request.path_params["job_id"])[:64]),
        metadata=session_metadata(request), timeout=DEADLINE)
    return JSONResponse(message_to_json_dict(found.job), headers={"Cache-Control": "no-store"})


USAGE_COLUMNS = ("id", "created_at", "model", "status", "resolution", "output_seconds", "credits",
                 "key_id", "key_name")


async def usage_csv(request: Request) -> Response:
    await _viewer(request, write=False)
    usage = await console_stub(request).GetUsage(console_pb2.GetUsageRequest(limit=10_000),
                                                 metadata=session_metadata(request), timeout=DEADLINE)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(USAGE_COLUMNS)
    for row in usage.jobs:
        values: dict[str, Any] = {name: getattr(row, name) for name in USAGE_COLUMNS}
        values["created_at"] = _iso(row.created_at)
        writer.writerow([_cell(values[name]) for name in USAGE_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="lipsync-usage.csv"', "Cache-Control": "no-store"})


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (key names are user input)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
