"""Abuse and retries, end to end: the proxy app before the real job service (gRPC on loopback)
on a real redis-server. Request budgets (429, Retry-After, X-RateLimit-*), the concurrent-jobs
cap, Idempotency-Key, cancel (one test renders for real and cancels mid-render), secrets at
rest and in logs, cross-account access on every REST route and gRPC method, body caps.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from stacks import serving_folder
from waiting import wait_until_async

from protos.lipsync.v1 import admin_pb2, admin_pb2_grpc, jobs_pb2, jobs_pb2_grpc
from proxy.app import create_app
from proxy.clients import JOB_SERVICE
from proxy.http_rules import http_bindings
from services.core import billing
from services.core.settings import Secret, Settings
from services.devtools import samples
from services.devtools.redis_server import RedisServer
from services.engine.media import speech
from services.inference.worker import Worker
from services.jobs.server import create_server
from services.storage.links import signed_url
from services.store import keys
from services.store.accounts import AccountStore, NewKey
from services.store.connection import RedisClient
from services.store.jobs import JobStore, Status
from services.store.queue import JobQueue

BASE = "http://testserver"
ADMIN = "admin-token-for-abuse-tests"
FORMS: dict[str, dict[str, Any]] = {
    "lipsync-video": {"video": "https://example.com/in.mp4", "audio": "https://example.com/a.mp3"},
    "lipsync-image": {"image": "https://example.com/face.png", "audio": "https://example.com/a.mp3"},
    "lipsync-image-multi": {"image": "https://example.com/two.png",
                            "left_audio": "https://example.com/l.wav",
                            "right_audio": "https://example.com/r.wav"},
}
SUBMITS = {"SubmitLipsyncVideo": "lipsync-video", "SubmitLipsyncImage": "lipsync-image",
           "SubmitLipsyncImageMulti": "lipsync-image-multi"}
RESERVE = billing.minimum_cost("480p")
BUDGET_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@dataclass
class Rig:
    settings: Settings
    redis: RedisClient
    client: httpx.AsyncClient
    stub: jobs_pb2_grpc.JobServiceStub
    admin: admin_pb2_grpc.AdminServiceStub

    async def key(self, credits: int = 1000, account_id: str = "") -> NewKey:
        return await AccountStore(self.redis).create_key("abuse", credits, account_id)

    async def submit(self, key: NewKey, model: str = "lipsync-image", idempotency: str | None = None,
                     form: dict[str, Any] | None = None) -> httpx.Response:
        headers = auth(key) | ({"Idempotency-Key": idempotency} if idempotency else {})
        return await self.client.post(f"/api/v1/{model}", headers=headers,
                                      json={"formState": form or FORMS[model]})

    async def credits(self, key: NewKey) -> int:
        return await AccountStore(self.redis).credits(key.account_id)


def auth(key: NewKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


def grpc_auth(key: NewKey, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key.api_key}"), *extra)


@asynccontextmanager
async def rig(redis_server: RedisServer, redis: RedisClient, data_dir: Path,
              **changes: Any) -> AsyncIterator[Rig]:
    settings = Settings(redis_url=redis_server.url, public_url=BASE, data_dir=data_dir,
                        signing_key=Secret("abuse-signing-key"), admin_token=Secret(ADMIN),
                        max_body_bytes=4096, allow_http_webhooks=True,
                        allow_private_urls=True).with_(**changes)
    server, port = create_server("127.0.0.1:0", settings, redis)
    await server.start()
    settings = settings.with_(jobs_addr=f"127.0.0.1:{port}")
    app = create_app(settings)
    channel = grpc.aio.insecure_channel(settings.jobs_addr)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url=BASE) as client:
            yield Rig(settings, redis, client, jobs_pb2_grpc.JobServiceStub(channel),
                      admin_pb2_grpc.AdminServiceStub(channel))
    finally:
        await channel.close()
        await server.stop(None)


@pytest.fixture
async def stack(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig(redis_server, redis, tmp_path / "data") as r:
        yield r


def error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert body["error"] and (code is None or body["code"] == code), body
    return body


async def rpc_error(call: Any) -> tuple[grpc.StatusCode, grpc.aio.AioRpcError]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value


def retry_delay(exc: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToTimedelta().total_seconds())
    raise AssertionError("no RetryInfo")


# -- request budgets ---------------------------------------------------------------------------

async def test_budgets_answer_429_with_retry_after_per_key(redis_server: RedisServer, redis: RedisClient,
                                                           tmp_path: Path) -> None:
    async with rig(redis_server, redis, tmp_path, rate_limit_submit_per_minute=3,
                   rate_limit_read_per_minute=4) as r:
        key = await r.key()
        replies = [await r.submit(key) for _ in range(3)]
        assert [x.status_code for x in replies] == [200] * 3
        assert [x.headers["x-ratelimit-limit"] for x in replies] == ["3"] * 3
        assert [x.headers["x-ratelimit-remaining"] for x in replies] == ["2", "1", "0"]
        assert [x.headers["x-ratelimit-reset"] for x in replies] == ["20", "40", "60"]

        refused = await r.submit(key)
        body = error(refused, 429, "rate_limited")
        assert "3 job submissions a minute" in body["error"]
        assert refused.headers["retry-after"] == "20" and refused.headers["x-ratelimit-remaining"] == "0"
        assert await r.redis.xlen(keys.JOB_QUEUE) == 3  # nothing queued for the refused one
        assert await r.credits(key) == 1000 - 3 * RESERVE

        # Reads have their own budget, and a failed authentication spends none of it.
        job_id = replies[0].json()["id"]
        polled = await r.client.get(f"/api/v1/jobs/{job_id}", headers=auth(key))
        assert (polled.status_code, polled.headers["x-ratelimit-limit"]) == (200, "4")
        assert polled.headers["x-ratelimit-remaining"] == "3"
        forged = {"Authorization": f"Bearer {key.api_key[:-4]}AAAA"}
        error(await r.client.get(f"/api/v1/jobs/{job_id}", headers=forged), 401)
        again = await r.client.get("/api/v1/account", headers=auth(key))
        assert again.headers["x-ratelimit-remaining"] == "2"
        # Budgets are per key: another key of the same account submits freely.
        sibling = await r.key(0, key.account_id)
        assert (await r.submit(sibling)).status_code == 200

        await r.client.get("/api/v1/jobs", headers=auth(key))
        await r.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(key))
        error(await r.client.get(f"/api/v1/jobs/{job_id}", headers=auth(key)), 429, "rate_limited")
        error(await r.client.post("/api/v1/files", headers=auth(key), content=PNG), 429)

        # The same budgets over gRPC: RESOURCE_EXHAUSTED with RetryInfo and the budget as metadata.
        for call in (r.stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), metadata=grpc_auth(key)),
                     r.stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=grpc_auth(key)),
                     r.stub.SubmitLipsyncImage(jobs_pb2.SubmitLipsyncImageRequest(
                         form_state=jobs_pb2.LipsyncImageForm(**FORMS["lipsync-image"])),
                         metadata=grpc_auth(key))):
            code, exc = await rpc_error(call)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert 0 < retry_delay(exc) <= 20
            assert dict(exc.initial_metadata() or ())["x-ratelimit-remaining"] == "0"
        stream = r.stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id), metadata=grpc_auth(key))
        code, _ = await rpc_error(stream.read())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_every_successful_call_reports_its_budget(stack: Rig) -> None:
    key = await stack.key()
    job_ids = {}
    replies: dict[str, httpx.Response] = {}
    for method, model in SUBMITS.items():
        replies[method] = await stack.submit(key, model)
        job_ids[method] = replies[method].json()["id"]
    job_id = job_ids["SubmitLipsyncImage"]
    replies["GetJob"] = await stack.client.get(f"/api/v1/jobs/{job_id}", headers=auth(key))
    replies["ListJobs"] = await stack.client.get("/api/v1/jobs", headers=auth(key))
    replies["GetAccount"] = await stack.client.get("/api/v1/account", headers=auth(key))
    replies["CancelJob"] = await stack.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(key))
    # The job is final now, so its event stream sends that state and ends.
    replies["WatchJob"] = await stack.client.get(f"/api/v1/jobs/{job_id}/events", headers=auth(key))
    assert set(replies) == {b.method.name for b in http_bindings(JOB_SERVICE)}  # every route
    replies["UploadFile"] = await stack.client.post("/api/v1/files", headers=auth(key), content=PNG)
    for name, reply in replies.items():
        assert reply.status_code == 200, (name, reply.text)
        assert all(reply.headers[h].isdigit() for h in BUDGET_HEADERS), name
    assert replies["SubmitLipsyncImage"].headers["x-ratelimit-limit"] == "60"
    assert replies["GetJob"].headers["x-ratelimit-limit"] == "600"


async def test_budgets_and_cap_can_be_switched_off(redis_server: RedisServer, redis: RedisClient,
                                                   tmp_path: Path) -> None:
    async with rig(redis_server, redis, tmp_path, rate_limit_submit_per_minute=0,
                   rate_limit_read_per_minute=0, max_concurrent_jobs=0) as r:
        key = await r.key(10_000)
        for _ in range(15):
            reply = await r.submit(key)
            assert reply.status_code == 200 and "x-ratelimit-limit" not in reply.headers
        assert not [k async for k in r.redis.scan_iter(keys.rate_limit("*", "*"))]


# -- the concurrent-jobs cap -------------------------------------------------------------------

async def test_the_concurrent_jobs_cap(redis_server: RedisServer, redis: RedisClient,
                                       tmp_path: Path) -> None:
    async with rig(redis_server, redis, tmp_path, max_concurrent_jobs=2) as r:
        key = await r.key()
        first, second = [(await r.submit(key)).json()["id"] for _ in range(2)]
        refused = await r.submit(key, "lipsync-video")
        body = error(refused, 429, "too_many_concurrent_jobs")
        assert "2 jobs processing" in body["error"] and refused.headers["retry-after"] == "5"
        assert refused.headers["x-ratelimit-limit"] == "60"  # the submit itself was within budget
        assert await r.redis.xlen(keys.JOB_QUEUE) == 2 and await r.credits(key) == 1000 - 2 * RESERVE
        assert (await r.submit(await r.key())).status_code == 200  # another account: its own cap

        # Whatever ends a job frees its slot: a cancel, a completion, a failure.
        await r.client.post(f"/api/v1/jobs/{first}/cancel", headers=auth(key))
        third = (await r.submit(key)).json()["id"]
        error(await r.submit(key), 429)
        store = JobStore(r.redis)
        assert await store.complete(await store.get(second), f"outputs/{second}.mp4", 10, {})
        fourth = (await r.submit(key)).json()["id"]
        assert await store.fail(await store.get(third), "No face found in the image")
        assert (await r.submit(key)).status_code == 200
        active = await r.redis.smembers(keys.account_active(key.account_id))
        assert len(active) == 2 and fourth in active and not {first, second, third} & active

        # Checked atomically with the submit: a burst cannot slip past the cap.
        racer = await r.key()
        burst = await asyncio.gather(*(r.submit(racer) for _ in range(10)))
        assert sorted(x.status_code for x in burst) == [200] * 2 + [429] * 8
        assert await r.credits(racer) == 1000 - 2 * RESERVE


# -- Idempotency-Key ---------------------------------------------------------------------------

async def test_same_key_and_request_give_the_same_job_once(stack: Rig) -> None:
    key = await stack.key()
    first = await stack.submit(key, idempotency="order-17")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    job_id = first.json()["id"]
    # The same request, spelled differently: other key order, a default written out.
    respelled = {"audio": FORMS["lipsync-image"]["audio"], "resolution": "480p",
                 "image": FORMS["lipsync-image"]["image"]}
    for form in (None, respelled):
        again = await stack.submit(key, idempotency="order-17", form=form)
        assert again.status_code == 200 and again.json() == {"id": job_id, "status": "processing"}
        assert again.headers["idempotent-replayed"] == "true"
    assert await stack.redis.zcard(keys.account_jobs(key.account_id)) == 1
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 1
    assert await stack.credits(key) == 1000 - RESERVE

    # Still the same answer once the job has ended; a new key is a new job.
    store = JobStore(stack.redis)
    await store.fail(await store.get(job_id), "No face found in the image")
    late = await stack.submit(key, idempotency="order-17")
    assert late.json() == {"id": job_id, "status": "processing"}
    assert (await stack.submit(key, idempotency="order-18")).json()["id"] != job_id

    # Kept 24 hours, under a hash of the key: the client's key is not stored as is.
    (record,) = [k async for k in stack.redis.scan_iter(f"{keys.PREFIX}:idem:{key.account_id}:*")
                 if (await stack.redis.get(k)).endswith(job_id)]
    assert "order-17" not in record and 86_000 < await stack.redis.ttl(record) <= 86_400


async def test_same_key_with_another_request_is_409(stack: Rig) -> None:
    key = await stack.key()
    job_id = (await stack.submit(key, idempotency="k-1")).json()["id"]
    other_form = {**FORMS["lipsync-image"], "seed": 7}
    for reply in (await stack.submit(key, idempotency="k-1", form=other_form),
                  await stack.submit(key, "lipsync-video", idempotency="k-1")):
        body = error(reply, 409, "idempotency_key_reused")
        assert body["field"] == "Idempotency-Key" and "different request" in body["error"]
    assert await stack.redis.zcard(keys.account_jobs(key.account_id)) == 1
    assert (await stack.submit(key, idempotency="k-1")).json()["id"] == job_id


async def test_concurrent_identical_requests_make_one_job(stack: Rig) -> None:
    key = await stack.key()
    replies = await asyncio.gather(*(stack.submit(key, idempotency="race") for _ in range(8)))
    assert {x.status_code for x in replies} == {200}
    assert len({x.json()["id"] for x in replies}) == 1
    assert sum(x.headers.get("idempotent-replayed") == "true" for x in replies) == 7
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 1 and await stack.credits(key) == 1000 - RESERVE


async def test_keys_are_per_account_and_a_refused_submit_is_not_remembered(stack: Rig) -> None:
    alice, bob = await stack.key(), await stack.key(credits=RESERVE - 1)
    alices = (await stack.submit(alice, idempotency="shared")).json()["id"]
    error(await stack.submit(bob, idempotency="shared"), 402, "insufficient_credits")
    await AccountStore(stack.redis).add_credits(bob.account_id, 100)
    bobs = (await stack.submit(bob, idempotency="shared")).json()["id"]
    assert bobs != alices
    assert (await stack.submit(bob, idempotency="shared")).json()["id"] == bobs


async def test_bad_idempotency_keys_are_400(stack: Rig) -> None:
    key = await stack.key()
    for value in ("k" * 256, "caf\u00e9".encode()):
        reply = await stack.client.post("/api/v1/lipsync-image", json={"formState": FORMS["lipsync-image"]},
                                        headers=[*auth(key).items(), ("Idempotency-Key", value)])
        assert error(reply, 400)["field"] == "Idempotency-Key"
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 0


async def test_idempotency_over_grpc(stack: Rig) -> None:
    key = await stack.key()
    request = jobs_pb2.SubmitLipsyncVideoRequest(
        form_state=jobs_pb2.LipsyncVideoForm(**FORMS["lipsync-video"]))
    metadata = grpc_auth(key, ("idempotency-key", "g-1"))
    first = await stack.stub.SubmitLipsyncVideo(request, metadata=metadata)
    second = stack.stub.SubmitLipsyncVideo(request, metadata=metadata)
    assert (await second).id == first.id
    assert ("idempotent-replayed", "true") in tuple(await second.trailing_metadata() or ())
    request.form_state.prompt = "other"
    code, _ = await rpc_error(stack.stub.SubmitLipsyncVideo(request, metadata=metadata))
    assert code == grpc.StatusCode.ABORTED


async def test_openapi_documents_the_header_and_the_new_answers(stack: Rig) -> None:
    document = (await stack.client.get("/openapi.json")).json()
    for path in ("/api/v1/lipsync-video", "/api/v1/lipsync-image", "/api/v1/lipsync-image-multi"):
        operation = document["paths"][path]["post"]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
        assert {"409", "429"} <= set(operation["responses"])
        assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    poll = document["paths"]["/api/v1/jobs/{id}"]["get"]
    assert "429" in poll["responses"] and "409" not in poll["responses"]
    assert set(poll["responses"]["200"]["headers"]) == {"X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                        "X-RateLimit-Reset"}
    assert "Retry-After" in document["components"]["responses"]["RateLimited"]["headers"]


# -- cancel ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Inputs:
    base: str

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inputs]:
    folder = tmp_path_factory.mktemp("inputs")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    said = samples.save_speech(folder / "speech.wav", "Peter Piper picked a peck of pickled "
                               "peppers. Mop the bump, Bob; the quick brown fox jumps over the dog.")
    speech.save_wav(folder / "long.wav", np.tile(said.audio, 3), said.sample_rate)  # ~20 s
    with serving_folder(folder) as base:
        yield Inputs(base)


@pytest.mark.slow
async def test_cancel_mid_render_stops_the_worker_and_charges_nothing(
        stack: Rig, inputs: Inputs, monkeypatch: pytest.MonkeyPatch) -> None:
    key = await stack.key()
    form = {"image": inputs.url("face.png"), "audio": inputs.url("long.wav")}
    job_id = (await stack.submit(key, form=form)).json()["id"]
    worker = Worker(stack.settings, stack.redis, "abuse-worker")
    stored: list[str] = []
    put_file = worker.pipeline.storage.put_file
    monkeypatch.setattr(worker.pipeline.storage, "put_file",
                        lambda key, path: stored.append(key) or put_file(key, path))
    running = asyncio.create_task(worker.run())
    try:
        async def job() -> dict[str, Any]:
            reply = await stack.client.get(f"/api/v1/jobs/{job_id}", headers=auth(key))
            found: dict[str, Any] = reply.json()
            assert found["status"] == "processing", found
            return found

        await wait_until_async(job, until=lambda j: j["progress"] > 0, timeout=60,
                               what="the worker to start rendering")
        assert await stack.credits(key) < 1000 - RESERVE  # the full length was reserved by now

        canceled = await stack.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(key))
        assert canceled.status_code == 200, canceled.text
        answer = canceled.json()
        assert (answer["status"], answer["error"], answer["output"]) == ("failed", "Job was canceled", None)
        assert await stack.credits(key) == 1000  # refunded at once, reservation and all

        # The worker notices at its next progress report and stops rendering; it acknowledges
        # the entry only once the render thread has returned. That it stopped rather than
        # finished shows below, however long it took: nothing was uploaded (`stored`).
        await wait_until_async(JobQueue(stack.redis).depth, until=lambda depth: depth == (0, 0), timeout=60,
                               what="the worker to drop the canceled job and acknowledge it")
    finally:
        await worker.stop(grace=5)
        await running
    record = await JobStore(stack.redis).get(job_id)
    assert (record.status, record.error, record.output_key, record.credits) == (
        Status.FAILED, "Job was canceled", "", 0)
    assert record.progress < 1
    assert stored == [] and not (stack.settings.outputs_dir / f"{job_id}.mp4").exists()
    assert await stack.credits(key) == 1000
    events = [f["status"] for _, f in await stack.redis.xrange(keys.JOB_EVENTS) if f["job"] == job_id]
    assert events == ["failed"]
    final = (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=auth(key))).json()
    assert (final["status"], final["error"], final["output"]) == ("failed", "Job was canceled", None)
    assert "credits" not in final or final["credits"] is None


# -- secrets -----------------------------------------------------------------------------------

async def _redis_dump(redis: RedisClient) -> str:
    """Every key and every value in the store, as text."""
    parts = []
    async for name in redis.scan_iter("*"):
        kind = await redis.type(name)
        read = {"string": redis.get, "hash": redis.hgetall, "set": redis.smembers,
                "list": lambda n: redis.lrange(n, 0, -1),
                "zset": lambda n: redis.zrange(n, 0, -1, withscores=True),
                "stream": redis.xrange}[kind]
        parts.append(f"{name} {await read(name)}")
    return "\n".join(parts)


async def test_keys_are_hashed_at_rest_and_never_logged(
        redis_server: RedisServer, redis: RedisClient, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broken = tmp_path / "not-a-directory"
    broken.write_text("x")  # uploads cannot be stored under a file: a logged server-side fault
    seen: list[str] = []

    def keep(reply: httpx.Response) -> httpx.Response:
        seen.append(f"{reply.status_code} {reply.headers} {reply.text}")
        return reply

    async with rig(redis_server, redis, broken, rate_limit_read_per_minute=8) as r:
        created = await r.admin.CreateKey(admin_pb2.CreateKeyRequest(name="secret test", credits=100),
                                          metadata=(("authorization", f"Bearer {ADMIN}"),))
        token = created.api_key
        secret = token.split("_", 2)[2]
        stored = await r.redis.hgetall(keys.api_key(created.key_id))
        assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()

        good = {"Authorization": f"Bearer {token}"}
        submit = functools.partial(r.client.post, "/api/v1/lipsync-image", headers=good)
        job_id = keep(await submit(json={"formState": FORMS["lipsync-image"]})).json()["id"]
        keep(await submit(json={"formState": {"image": "ftp://x"}}))  # 400
        keep(await submit(content=b"{not json"))  # 400
        keep(await r.client.post("/api/v1/lipsync-image", json={"formState": FORMS["lipsync-image"]},
                                 headers={**good, "Idempotency-Key": "x"}))
        keep(await r.client.post("/api/v1/lipsync-image", json={"formState": {**FORMS["lipsync-image"],
                                                                               "seed": 3}},
                                 headers={**good, "Idempotency-Key": "x"}))  # 409
        keep(await r.client.post("/api/v1/files", headers=good, content=PNG))  # 500, logged
        for wrong in (f"Bearer {token[:-1]}", f"Bearer {token}x", f"Basic {token}", token,
                      f"Bearer sk_zzzzzz_{secret}"):
            keep(await r.client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": wrong}))
        for _ in range(8):  # past the read budget: 429s
            keep(await r.client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=good))
        for call in (r.stub.GetJob(jobs_pb2.GetJobRequest(id=job_id),
                                   metadata=(("authorization", f"Bearer {token}0"),)),
                     r.stub.GetAccount(jobs_pb2.GetAccountRequest(),
                                       metadata=(("authorization", f"Bearer {token}"),))):
            _, exc = await rpc_error(call)
            seen.append(f"{exc.code()} {exc.details()} {exc.trailing_metadata()}")

    statuses = {int(s.split(" ", 1)[0]) for s in seen if s[:3].isdigit()}
    assert {200, 400, 401, 404, 409, 429, 500} <= statuses
    assert "unhandled error" in caplog.text  # the fault was logged, traceback and all
    assert caplog.records
    for text, where in ((caplog.text, "logs"), ("\n".join(seen), "answers"),
                        (await _redis_dump(redis), "redis")):
        # Any 16 characters of it would be too many (the forged keys above hold most of it).
        assert secret[:16] not in text and secret[-16:] not in text, f"the key's secret is in the {where}"


# -- cross-account access ----------------------------------------------------------------------

async def test_another_account_gets_404_on_every_route_and_method(stack: Rig) -> None:
    alice, bob = await stack.key(), await stack.key(credits=77)
    alices = {method: (await stack.submit(alice, model, idempotency=f"shared-{model}")).json()["id"]
              for method, model in SUBMITS.items()}
    job_id = alices["SubmitLipsyncImage"]
    done = alices["SubmitLipsyncVideo"]
    output = stack.settings.outputs_dir / f"{done}.mp4"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(100))
    store = JobStore(stack.redis)
    assert await store.complete(await store.get(done), f"outputs/{done}.mp4", 10, {})
    unknown = str(uuid.uuid4())

    async def not_found(method: str, path: str, theirs: str) -> None:
        body = error(await stack.client.request(method, path, headers=auth(bob)), 404, "not_found")
        # Word for word the answer about a job that does not exist at all: no existence oracle.
        twin = error(await stack.client.request(method, path.replace(theirs, unknown), headers=auth(bob)),
                     404, "not_found")
        assert body["error"].replace(theirs, unknown) == twin["error"]

    rest: dict[str, Any] = {}
    for method, model in SUBMITS.items():
        async def resubmit(method: str = method, model: str = model) -> None:
            # Alice's Idempotency-Key and body, from Bob: Bob's own new job, never Alice's.
            reply = await stack.submit(bob, model, idempotency=f"shared-{model}")
            assert reply.status_code == 200 and reply.json()["id"] != alices[method]
        rest[method] = resubmit

    async def list_jobs() -> None:
        listed = (await stack.client.get("/api/v1/jobs?limit=100", headers=auth(bob))).json()["jobs"]
        assert not {j["id"] for j in listed} & set(alices.values())
        await not_found("GET", f"/api/v1/jobs?before={job_id}", job_id)

    async def account() -> None:
        mine = (await stack.client.get("/api/v1/account", headers=auth(bob))).json()
        assert mine["id"] == bob.account_id and int(mine["credits"]) == 77 - 3 * RESERVE

    rest["GetJob"] = lambda: asyncio.gather(not_found("GET", f"/api/v1/jobs/{job_id}", job_id),
                                            not_found("GET", f"/api/v1/jobs/{done}", done))
    rest["CancelJob"] = lambda: not_found("POST", f"/api/v1/jobs/{job_id}/cancel", job_id)
    rest["WatchJob"] = lambda: not_found("GET", f"/api/v1/jobs/{job_id}/events", job_id)
    rest["ListJobs"] = list_jobs
    rest["GetAccount"] = account
    assert set(rest) == {b.method.name for b in http_bindings(JOB_SERVICE)}, "a route is not covered"
    for check in rest.values():
        await check()

    # Every gRPC method, streaming ones included.
    md = grpc_auth(bob)
    grpc_calls: dict[str, Any] = {
        "GetJob": lambda: stack.stub.GetJob(jobs_pb2.GetJobRequest(id=done), metadata=md),
        "CancelJob": lambda: stack.stub.CancelJob(jobs_pb2.CancelJobRequest(id=job_id), metadata=md),
        "WatchJob": lambda: stack.stub.WatchJob(jobs_pb2.WatchJobRequest(id=job_id), metadata=md).read(),
        "ListJobs": lambda: stack.stub.ListJobs(jobs_pb2.ListJobsRequest(before=job_id), metadata=md),
    }
    for name, call in grpc_calls.items():
        code, _ = await rpc_error(call())
        assert code == grpc.StatusCode.NOT_FOUND, name
    listed = await stack.stub.ListJobs(jobs_pb2.ListJobsRequest(limit=100), metadata=md)
    assert not {j.id for j in listed.jobs} & set(alices.values())
    balance = await stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=md)
    assert (balance.id, balance.credits) == (bob.account_id, 77 - 3 * RESERVE)
    request = jobs_pb2.SubmitLipsyncImageRequest(
        form_state=jobs_pb2.LipsyncImageForm(**FORMS["lipsync-image"]))
    theirs = await stack.stub.SubmitLipsyncImage(
        request, metadata=grpc_auth(bob, ("idempotency-key", "shared-lipsync-image")))
    assert theirs.id != job_id
    covered = {*grpc_calls, "GetAccount", *SUBMITS}
    assert covered == {m.name for m in JOB_SERVICE.methods}, "a gRPC method is not covered"

    # Alice's jobs and credits are untouched by all of it.
    assert (await store.get(job_id)).status == Status.PROCESSING
    assert await stack.credits(alice) == 1000 - 3 * RESERVE  # two reserved, one charged

    # Outputs only through the signed, expiring link that only Alice's job shows.
    link = (await stack.client.get(f"/api/v1/jobs/{done}", headers=auth(alice))).json()["output"]
    assert (await stack.client.get(link)).status_code == 200
    assert "expires=" in link and "sig=" in link
    for bare in (f"/files/outputs/{done}.mp4", f"/files/outputs/{done}.mp4?expires=9999999999&sig=0",
                 link.replace(done, job_id), link.split("&sig=")[0] + "&sig=" + "0" * 64):
        error(await stack.client.get(bare), 404)
    expired = signed_url(stack.settings, f"outputs/{done}.mp4", ttl=60, now=1_000_000_000)
    error(await stack.client.get(expired), 410)


# -- body caps ---------------------------------------------------------------------------------

async def test_bodies_over_the_cap_are_413_declared_or_chunked(stack: Rig) -> None:
    key = await stack.key()
    big = {"formState": {**FORMS["lipsync-image"], "prompt": "x" * 5000}}
    error(await stack.client.post("/api/v1/lipsync-image", headers=auth(key), json=big), 413)

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"formState": {"prompt": "'
        for _ in range(10):
            yield b"x" * 1000

    error(await stack.client.post("/api/v1/lipsync-image", headers=auth(key), content=chunked()), 413)
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 0


async def test_oversized_headers_are_4xx_not_5xx(stack: Rig) -> None:
    key = await stack.key()
    huge_key = {"Authorization": f"Bearer sk_abc_{'x' * 20_000}"}
    error(await stack.client.get("/api/v1/account", headers=huge_key), 401)
    for size in (300, 20_000):
        reply = await stack.submit(key, idempotency="k" * size)
        assert error(reply, 400)["field"] == "Idempotency-Key"
