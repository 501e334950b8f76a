"""Uploads for clients without public hosting, and the signed links that serve stored files.

`POST /api/v1/files` (extension): the body is the file's raw bytes (any Content-Type; the
format is sniffed from the bytes). The caller's key is checked first (a `GetAccount` call), so
nothing is read from an unknown caller. The body is streamed to a temporary file, never held
in memory, up to `max_upload_bytes` (413 past it), then stored where outputs are: the data
directory, or the S3 bucket when `LIPSYNC_S3_BUCKET` is set. The answer is `{"url": ...}`, a
signed link (S3 presigned with a bucket) valid for 24 hours, to put in `formState`; workers read
such links straight from storage.

`GET /files/<key>?expires=..&sig=..`: the file, with its media type and HTTP range support,
only for a genuine unexpired link. A genuine but expired link is 410 Gone; anything else
(unknown key, forged or missing signature) is 404, so links cannot be probed.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from protos.lipsync.v1 import jobs_pb2
from proxy.body_limit import too_large
from proxy.clients import call_metadata, job_stub
from proxy.error_responses import ApiError, bad_request
from proxy.openapi import RATE_LIMIT_HEADERS, response_ref
from proxy.response_headers import passed_headers
from proxy.transcoder import DEFAULT_DEADLINE
from proxy.upload_types import HEAD_BYTES, media_type, upload_extension
from services.core.settings import Settings
from services.storage.links import LocalStorage, check_signature, signed_url, storage_for, valid_key

UPLOAD_PATH = "/api/v1/files"
UPLOAD_LINK_TTL = 24 * 3600
FILE_CACHE_SECONDS = 3600


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def upload(request: Request) -> Response:
    settings = _settings(request)
    check = job_stub(request).GetAccount(jobs_pb2.GetAccountRequest(), metadata=call_metadata(request),
                                         timeout=DEFAULT_DEADLINE)
    await check
    budget = passed_headers(await check.initial_metadata())  # the key's X-RateLimit-* headers
    return JSONResponse({"url": await store_upload(request, settings)}, headers=budget)


async def store_upload(request: Request, settings: Settings) -> str:
    """Store the request body (the caller already authorised) and answer its signed link.
    Shared with the web console's playground uploads."""
    # Spooled beside its final place on local storage (the store's copy stays on one disk), in
    # the temporary directory when it goes to S3.
    spool_dir = None if settings.s3_bucket else settings.uploads_dir
    if spool_dir is not None:
        spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=spool_dir, prefix=".incoming-") as spool:
        head, size = b"", 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_upload_bytes:
                raise too_large(settings.max_upload_bytes)
            if len(head) < HEAD_BYTES:
                head += chunk[:HEAD_BYTES - len(head)]
            spool.write(chunk)  # to the page cache: quick enough to stay on the event loop
        if size == 0:
            raise bad_request("The request body is empty: send the file's bytes as the body")
        spool.flush()
        key = f"uploads/{secrets.token_hex(16)}.{upload_extension(head)}"
        # The configured store: the data directory, or the S3 bucket its links point into.
        await anyio.to_thread.run_sync(storage_for(settings).put_file, key, Path(spool.name))
    return signed_url(settings, key, ttl=UPLOAD_LINK_TTL)


async def download(request: Request) -> Response:
    settings = _settings(request)
    key = request.path_params["key"]
    expires = request.query_params.get("expires", "")
    sig = request.query_params.get("sig", "")
    if not check_signature(settings, key, expires, sig):
        # Would it have been valid at its own expiry time? Then it is genuine, only too old.
        if expires.isdigit() and check_signature(settings, key, expires, sig, now=float(expires)):
            raise ApiError(410, "expired", "This link has expired")
        raise ApiError(404, "not_found", "No such file")
    path = LocalStorage(settings.data_dir).path(key) if valid_key(key) else None
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", "No such file")
    return FileResponse(path, media_type=media_type(key), headers={
        "Cache-Control": f"private, max-age={FILE_CACHE_SECONDS}", "X-Content-Type-Options": "nosniff"})


ROUTES = [Route(UPLOAD_PATH, upload, methods=["POST"]),
          Route("/files/{key:path}", download, methods=["GET"])]



OPENAPI_PATHS: dict[str, Any] = {
    UPLOAD_PATH: {"post": {
        "operationId": "UploadFile", "tags": ["files"],
        "summary": "Upload an input file (extension), for use in formState",
        "description": "The body is the file's raw bytes (not multipart). The format is sniffed "
                       "from the bytes; the Content-Type header is ignored. The answer's `url` "
                       "is valid for 24 hours.",
        "requestBody": {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "minLength": 1,  # empty: 400
                                                    "contentMediaType": "application/octet-stream"}}}},
        "responses": {
            "200": {"description": "Stored",
                    "headers": {name: {"$ref": f"#/components/headers/{name}"}
                                for name in RATE_LIMIT_HEADERS},
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/UploadedFile"}}}},
            "400": response_ref("BadRequest"), "401": response_ref("Unauthenticated"),
            "404": response_ref("NotFound"), "413": response_ref("PayloadTooLarge"),
            "429": response_ref("RateLimited"), "500": response_ref("InternalError"),
            "503": response_ref("Unavailable"), "504": response_ref("Timeout"),
        }}},
    "/files/{key}": {"get": {
        "operationId": "DownloadFile", "tags": ["files"], "security": [],
        "summary": "A stored file (an output or an upload), through a signed link",
        "description": "Supports HTTP Range requests (206). A genuine link past its `expires` "
                       "time is 410; an unknown key or a wrong signature is 404.",
        "parameters": [
            {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "e.g. `outputs/<job id>.mp4` (may contain a slash)"},
            {"name": "expires", "in": "query", "required": True,
             "schema": {"type": "integer"}, "description": "Unix time the link expires"},
            {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
            {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The file", "content": {"*/*": {
                "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
            "206": {"description": "The requested byte range", "content": {"*/*": {
                "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
            "400": {"description": "A malformed Range header"},
            "404": response_ref("NotFound"), "410": response_ref("Expired"),
            "416": {"description": "The range is not satisfiable"},
            "500": response_ref("InternalError"),
        }}},
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "UploadedFile": {"type": "object", "required": ["url"], "properties": {
        "url": {"type": "string", "format": "uri",
                "description": "Signed link to the stored file, for formState"}}},
}
