"""The public REST API end to end: the Starlette proxy in front of the real job service (gRPC on a
loopback port) on a real redis-server. No worker runs: jobs are ended through the store, as a
worker would end them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from stacks import serving_http
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from proxy.app import create_app
from services.cli.serve import serve_webhooks
from services.core.settings import Secret, Settings
from services.devtools.redis_server import RedisServer, free_port
from services.jobs.server import create_server
from services.storage.links import signed_url
from services.store import keys
from services.store.accounts import AccountStore, NewKey
from services.store.connection import RedisClient
from services.store.jobs import JobStore
from services.webhooks.signing import verify

BASE = "http://testserver"
SEVEN = ("id", "model", "status", "output", "error", "executionTime", "timings")
EXTENSIONS = {"progress", "createdAt", "seed", "credits", "style"}
FORMS: dict[str, dict[str, Any]] = {
    "lipsync-video": {"video": "https://example.com/in.mp4", "audio": "https://example.com/a.mp3"},
    "lipsync-image": {"image": "https://example.com/face.png", "audio": "https://example.com/a.mp3",
                      "resolution": "720p", "seed": 42},
    "lipsync-image-multi": {"image": "https://example.com/two.png", "left_audio": "https://example.com/l.wav",
                            "right_audio": "https://example.com/r.wav", "order": "left_right"},
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
MP4 = b"\x00\x00\x00\x20ftypisom" + bytes(1000) + b"end"


@dataclass
class Stack:
    settings: Settings
    redis: RedisClient
    server: grpc.aio.Server
    client: httpx.AsyncClient
    app: Starlette

    async def key(self, credits: int = 1000) -> NewKey:
        return await AccountStore(self.redis).create_key("test", credits)

    async def auth(self, credits: int = 1000) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.key(credits)).api_key}"}

    async def submit(self, headers: dict[str, str], model: str = "lipsync-image", **body: Any) -> str:
        reply = await self.client.post(f"/api/v1/{model}", headers=headers,
                                       json={"formState": FORMS[model], **body})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["id"])


@pytest.fixture
async def stack(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in _stack(redis_server, redis, tmp_path / "data"):
        yield s


async def _stack(redis_server: RedisServer, redis: RedisClient, data_dir: Path) -> AsyncIterator[Stack]:
    """The job service on a free loopback port and the proxy app (lifespan running) before it."""
    settings = Settings(redis_url=redis_server.url, public_url=BASE, data_dir=data_dir,
                        signing_key=Secret("test-signing-key"), max_body_bytes=4096,
                        max_upload_bytes=64 * 1024, allow_http_webhooks=True, allow_private_urls=True)
    server, port = create_server("127.0.0.1:0", settings, redis)
    await server.start()
    settings = settings.with_(jobs_addr=f"127.0.0.1:{port}")
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url=BASE) as client:
            yield Stack(settings, redis, server, client, app)
    finally:
        await server.stop(None)


def _error(reply: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    body: dict[str, Any] = reply.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["code"], str) and body["code"]
    assert body.get("field") == field
    return body


def _assert_job_shape(job: dict[str, Any]) -> None:
    assert set(SEVEN) <= set(job) and set(job) <= set(SEVEN) | EXTENSIONS
    uuid.UUID(job["id"])
    assert job["model"] in FORMS
    assert job["status"] in ("processing", "completed", "failed")
    assert job["output"] is None or job["output"].startswith(f"{BASE}/files/")
    assert isinstance(job["error"], str)
    assert job["executionTime"] is None or type(job["executionTime"]) is int
    assert job["timings"] is None or all(isinstance(v, int | float) for v in job["timings"].values())


# -- submitting --------------------------------------------------------------------------------

@pytest.mark.parametrize("model", list(FORMS))
async def test_submit_answers_exactly_id_and_processing(stack: Stack, model: str) -> None:
    reply = await stack.client.post(f"/api/v1/{model}", headers=await stack.auth(),
                                    json={"webhook": "https://example.com/hook", "formState": FORMS[model]})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"id", "status"} and body["status"] == "processing"
    uuid.UUID(body["id"])
    assert reply.headers["x-request-id"]


async def test_request_id_is_echoed(stack: Stack) -> None:
    headers = {**await stack.auth(), "X-Request-Id": "abc-123"}
    reply = await stack.client.get("/api/v1/account", headers=headers)
    assert reply.status_code == 200 and reply.headers["x-request-id"] == "abc-123"
    bad = await stack.client.get("/healthz", headers={"X-Request-Id": "no spaces allowed"})
    assert bad.headers["x-request-id"] != "no spaces allowed"


MISSING = [
    ("lipsync-video", "video"), ("lipsync-video", "audio"), ("lipsync-image", "image"),
    ("lipsync-image", "audio"), ("lipsync-image-multi", "image"),
    ("lipsync-image-multi", "left_audio"), ("lipsync-image-multi", "right_audio"),
]
BAD_VALUES = [
    ("lipsync-image", "resolution", "1080p"), ("lipsync-image-multi", "order", "sideways"),
    ("lipsync-video", "seed", "abc"), ("lipsync-image", "seed", 1.5), ("lipsync-image", "seed", True),
    ("lipsync-image", "foo", 1), ("lipsync-video", "video", "ftp://example.com/x.mp4"),
    ("lipsync-image", "audio", 7),
]


@pytest.mark.parametrize(("model", "field"), MISSING)
async def test_missing_required_field_is_400_naming_it(stack: Stack, model: str, field: str) -> None:
    form = {k: v for k, v in FORMS[model].items() if k != field}
    reply = await stack.client.post(f"/api/v1/{model}", headers=await stack.auth(), json={"formState": form})
    _error(reply, 400, f"formState.{field}")


@pytest.mark.parametrize(("model", "field", "value"), BAD_VALUES)
async def test_bad_field_is_400_naming_it(stack: Stack, model: str, field: str, value: Any) -> None:
    form = {**FORMS[model], field: value}
    reply = await stack.client.post(f"/api/v1/{model}", headers=await stack.auth(), json={"formState": form})
    _error(reply, 400, f"formState.{field}")


async def test_envelope_errors(stack: Stack) -> None:
    headers = await stack.auth()
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers, json={}), 400, "formState")
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                   json={"formState": FORMS["lipsync-image"], "hook": "x"}), 400, "hook")
    body = _error(await stack.client.post("/api/v1/lipsync-image", headers=headers, content=b"{nope"), 400)
    assert body["error"] == "Request body is not valid JSON"
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers, content=b"[1]"), 400)
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                   json={"formState": "x"}), 400, "formState")
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                   json={"formState": FORMS["lipsync-image"], "webhook": "ftp://x"}),
           400, "webhook")


async def test_oversized_body_is_413(stack: Stack) -> None:
    headers = await stack.auth()
    big = {"formState": {**FORMS["lipsync-image"], "prompt": "x" * 5000}}
    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers, json=big), 413)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 1000

    _error(await stack.client.post("/api/v1/lipsync-image", headers=headers, content=chunked()), 413)


async def test_insufficient_credits_is_402_and_nothing_is_queued(stack: Stack) -> None:
    headers = await stack.auth(credits=5)  # a 480p job reserves at least 10
    form = {**FORMS["lipsync-image"], "resolution": "480p"}
    body = _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                          json={"formState": form}), 402)
    assert body["code"] == "insufficient_credits"
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 0
    account = (await stack.client.get("/api/v1/account", headers=headers)).json()
    assert account["credits"] == 5
    assert (await stack.client.get("/api/v1/jobs", headers=headers)).json() == {"jobs": []}


# -- authentication ----------------------------------------------------------------------------

async def test_every_auth_failure_is_401(stack: Stack) -> None:
    good = await stack.key()
    job_id = await stack.submit({"Authorization": f"Bearer {good.api_key}"})
    revoked = await stack.key()
    await AccountStore(stack.redis).revoke(revoked.key_id)
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": f"Basic {good.api_key}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer sk_0123456789ab_" + "x" * 43},
        {"Authorization": good.api_key[:-1] + "Z"},
        {"Authorization": f"Bearer {good.api_key[:-2]}zz"},
        {"Authorization": f"Bearer {revoked.api_key}"},
    ]
    for headers in cases:
        _error(await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers), 401)
        _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                       json={"formState": FORMS["lipsync-image"]}), 401)
        _error(await stack.client.post("/api/v1/files", headers=headers, content=PNG), 401)


async def test_another_accounts_job_is_404(stack: Stack) -> None:
    job_id = await stack.submit(await stack.auth())
    stranger = await stack.auth()
    _error(await stack.client.get(f"/api/v1/jobs/{job_id}", headers=stranger), 404)
    _error(await stack.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=stranger), 404)
    _error(await stack.client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=stranger), 404)
    _error(await stack.client.get("/api/v1/jobs/not-a-uuid", headers=stranger), 404)


# -- the seed's two flows ----------------------------------------------------------------------

async def test_polling_until_completed_then_download(stack: Stack) -> None:
    headers = await stack.auth()
    job_id = await stack.submit(headers)
    job = (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
    _assert_job_shape(job)
    assert {k: job[k] for k in SEVEN} == {
        "id": job_id, "model": "lipsync-image", "status": "processing", "output": None, "error": "",
        "executionTime": None, "timings": None}

    output = stack.settings.outputs_dir / f"{job_id}.mp4"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(MP4)
    store = JobStore(stack.redis)
    assert await store.complete(await store.get(job_id), f"outputs/{job_id}.mp4", 12345,
                                {"download": 10, "inference": 900})
    job = (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
    _assert_job_shape(job)
    assert (job["status"], job["error"], job["executionTime"]) == ("completed", "", 12345)
    assert job["timings"] == {"download": 10, "inference": 900}

    video = await stack.client.get(job["output"])  # the signed link needs no key
    assert video.status_code == 200 and video.content == MP4
    assert video.headers["content-type"] == "video/mp4"
    part = await stack.client.get(job["output"], headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == b"ftypisom"


async def test_polling_until_failed(stack: Stack) -> None:
    headers = await stack.auth()
    job_id = await stack.submit(headers, "lipsync-video")
    store = JobStore(stack.redis)
    assert await store.fail(await store.get(job_id), "Invalid audio format")
    job = (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
    _assert_job_shape(job)
    assert {k: job[k] for k in SEVEN} == {
        "id": job_id, "model": "lipsync-video", "status": "failed", "output": None,
        "error": "Invalid audio format", "executionTime": None, "timings": None}


async def test_cancel(stack: Stack) -> None:
    headers = await stack.auth()
    job_id = await stack.submit(headers)
    job = (await stack.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=headers)).json()
    _assert_job_shape(job)
    assert (job["status"], job["error"]) == ("failed", "Job was canceled")
    _error(await stack.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=headers), 400)


async def test_webhook_flow(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> None:
    received: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def hook(request: Request) -> JSONResponse:
        await received.put((dict(request.headers), await request.body()))
        return JSONResponse({"received": True})

    port = free_port()
    receiver_app = Starlette(routes=[Route("/webhooks/lipsync", hook, methods=["POST"])])
    async with serving_http(receiver_app, port):
        async for stack in _stack(redis_server, redis, tmp_path / "data"):
            # Webhooks are their own role (`lipsync serve webhooks`) beside the proxy.
            stop = asyncio.Event()
            webhooks = asyncio.create_task(serve_webhooks(stack.settings, stop))
            key = await stack.key()
            headers = {"Authorization": f"Bearer {key.api_key}"}
            job_id = await stack.submit(headers, webhook=f"http://127.0.0.1:{port}/webhooks/lipsync")
            store = JobStore(stack.redis)
            await store.fail(await store.get(job_id), "No face found in the image")
            sent_headers, body = await asyncio.wait_for(received.get(), 15)
            verify(key.webhook_secret, sent_headers, body)
            polled = (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
            assert httpx.Response(200, content=body).json() == polled
            assert polled["status"] == "failed" and polled["error"] == "No face found in the image"
            stop.set()
            await webhooks


# -- uploads and files -------------------------------------------------------------------------

async def test_upload_then_use_the_url(stack: Stack) -> None:
    headers = await stack.auth()
    reply = await stack.client.post("/api/v1/files", headers=headers, content=PNG)
    assert reply.status_code == 200, reply.text
    url = reply.json()["url"]
    assert url.startswith(f"{BASE}/files/uploads/") and ".png?" in url
    fetched = await stack.client.get(url)
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    form = {**FORMS["lipsync-image"], "image": url}
    assert (await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                    json={"formState": form})).status_code == 200

    _error(await stack.client.post("/api/v1/files", headers=headers, content=b""), 400)
    _error(await stack.client.post("/api/v1/files", headers=headers, content=bytes(65 * 1024)), 413)

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield bytes(4096)

    _error(await stack.client.post("/api/v1/files", headers=headers, content=chunked()), 413)
    # Over the JSON cap but under the upload cap: fine for an upload.
    other = await stack.client.post("/api/v1/files", headers=headers, content=MP4 + bytes(8000))
    assert other.status_code == 200 and ".mp4?" in other.json()["url"]


async def test_files_refuses_bad_and_expired_links(stack: Stack) -> None:
    key = "uploads/0123456789abcdef.png"
    path = stack.settings.data_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG)
    good = signed_url(stack.settings, key, ttl=60)
    assert (await stack.client.get(good)).status_code == 200
    _error(await stack.client.get(good[:-4] + "0000"), 404)
    _error(await stack.client.get(f"/files/{key}"), 404)
    _error(await stack.client.get(good.replace("0123456789abcdef", "fedcba9876543210")), 404)
    _error(await stack.client.get(signed_url(stack.settings, "outputs/0123456789abcdef.mp4", ttl=60)), 404)
    expired = signed_url(stack.settings, key, ttl=60, now=1_000_000_000)
    _error(await stack.client.get(expired), 410)


# -- operations --------------------------------------------------------------------------------

async def test_openapi_lists_every_route(stack: Stack) -> None:
    reply = await stack.client.get("/openapi.json")
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    served = set()
    for route in stack.app.routes:
        if isinstance(route, Mount) and route.path == "/console":
            continue  # the web console: pages for people, not part of the API
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                served.add((route.path.replace(":path}", "}"), method.lower()))
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert served == documented
    job = doc["components"]["schemas"]["Job"]
    assert set(SEVEN) <= set(job["required"])
    assert "null" in job["properties"]["output"]["type"]
    form = doc["components"]["schemas"]["LipsyncImageMultiForm"]
    assert {"left_audio", "right_audio", "order", "seed"} <= set(form["properties"])
    submit = doc["paths"]["/api/v1/lipsync-image"]["post"]["responses"]
    assert {"200", "400", "401", "402", "413", "503"} <= set(submit)


async def test_health_and_readiness(stack: Stack) -> None:
    assert (await stack.client.get("/healthz")).json() == {"status": "ok"}
    assert (await stack.client.get("/readyz")).status_code == 200
    headers = await stack.auth()
    await stack.server.stop(None)
    _error(await stack.client.get("/readyz"), 503)
    body = _error(await stack.client.post("/api/v1/lipsync-image", headers=headers,
                                          json={"formState": FORMS["lipsync-image"]}), 503)
    assert body["error"] == "The service cannot take work right now"
    assert (await stack.client.get("/healthz")).status_code == 200


async def test_unexpected_error_is_a_generic_500(redis_server: RedisServer, redis: RedisClient,
                                                 tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")  # uploads cannot be stored under a file: a server-side fault
    async for stack in _stack(redis_server, redis, not_a_dir):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(stack.app, raise_app_exceptions=False),
                                   base_url=BASE)
        async with client:
            reply = await client.post("/api/v1/files", headers=await stack.auth(), content=PNG)
        assert reply.json() == {"error": "Internal error", "code": "internal"}
        assert reply.status_code == 500 and reply.headers["x-request-id"]
    assert "unhandled error" in caplog.text
