"""The job service over a real gRPC channel, on a real Redis."""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from protos.lipsync.v1 import admin_pb2, admin_pb2_grpc, jobs_pb2, jobs_pb2_grpc
from services.core.errors import details_of
from services.core.settings import Secret, Settings
from services.jobs.server import create_server
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore

ADMIN = "admin-token-for-tests"


@dataclass
class Stack:
    stub: jobs_pb2_grpc.JobServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    channel: grpc.aio.Channel
    redis: RedisClient
    key: str
    account: str


@pytest.fixture
async def stack(redis: RedisClient, settings: Settings) -> AsyncIterator[Stack]:
    settings = settings.with_(admin_token=Secret(ADMIN))
    server, port = create_server("127.0.0.1:0", settings, redis)
    await server.start()
    new = await AccountStore(redis).create_key("tests", credits=100)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Stack(jobs_pb2_grpc.JobServiceStub(channel), admin_pb2_grpc.AdminServiceStub(channel),
                    channel, redis, new.api_key, new.account_id)
    finally:
        await channel.close()
        await server.stop(0)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def image_request(**form: object) -> jobs_pb2.SubmitLipsyncImageRequest:
    fields = {"image": "https://example.com/face.png", "audio": "https://example.com/a.wav", **form}
    return jobs_pb2.SubmitLipsyncImageRequest(form_state=jobs_pb2.LipsyncImageForm(**fields))


async def error_of(call: object) -> tuple[grpc.StatusCode, str, str | None, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    status = rpc_status.from_call(info.value)  # type: ignore[arg-type]
    reason, field = details_of(status) if status else ("", None)
    return info.value.code(), reason, field, info.value.details() or ""


async def test_submit_get_list_and_watch(stack: Stack) -> None:
    reply = await stack.stub.SubmitLipsyncImage(image_request(seed=42), metadata=auth(stack.key))
    assert reply.status == "processing"
    job = await stack.stub.GetJob(jobs_pb2.GetJobRequest(id=reply.id), metadata=auth(stack.key))
    assert (job.id, job.model, job.status, job.seed) == (reply.id, "lipsync-image", "processing", 42)
    assert not job.HasField("output") and not job.HasField("execution_time")
    # Queued exactly once, and 5 s at 480p reserved.
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 1
    balance = await stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=auth(stack.key))
    assert balance.credits == 90

    listed = await stack.stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=auth(stack.key))
    assert [j.id for j in listed.jobs] == [reply.id]

    store = JobStore(stack.redis)
    record = await store.get(reply.id)

    # The job moves on as a worker would, each step once the watcher has seen the one before
    # (not after a guess at how long it takes to connect).
    events = []
    async for event in stack.stub.WatchJob(jobs_pb2.WatchJobRequest(id=reply.id), metadata=auth(stack.key)):
        events.append(event)
        if event.job.status == "processing" and event.job.progress == 0:
            await store.set_progress(reply.id, 0.5)
        elif event.job.status == "processing" and event.job.progress == 0.5:
            await store.complete(record, f"outputs/{reply.id}.mp4", 1234, {"render": 10.0})
    assert [e.id for e in events] == sorted({e.id for e in events})  # increasing
    seen = [e.job for e in events]
    assert [j.status for j in seen][-1] == "completed"
    assert 0.5 in [j.progress for j in seen]
    assert seen[-1].execution_time == 1234 and seen[-1].output.startswith("http://127.0.0.1:8080/files/")


@pytest.mark.parametrize(("request_", "field"), [
    (jobs_pb2.SubmitLipsyncImageRequest(), "formState"),
    (image_request(image=""), "formState.image"),
    (image_request(audio="ftp://x/a.wav"), "formState.audio"),
    (image_request(resolution="1080p"), "formState.resolution"),
    (image_request(seed=-2), "formState.seed"),
    (image_request(mask_image="not a url"), "formState.mask_image"),
    (image_request(prompt="x" * 3000), "formState.prompt"),
])
async def test_validation_names_the_field(stack: Stack, request_: jobs_pb2.SubmitLipsyncImageRequest,
                                          field: str) -> None:
    code, reason, named, message = await error_of(
        stack.stub.SubmitLipsyncImage(request_, metadata=auth(stack.key)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and reason == "INVALID_ARGUMENT"
    assert named == field and field.split(".")[-1] in message
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 0


async def test_multi_order_and_webhook_are_checked(stack: Stack) -> None:
    form = jobs_pb2.LipsyncImageMultiForm(image="https://e.com/i.png", left_audio="https://e.com/l.wav",
                                          right_audio="https://e.com/r.wav", order="sideways")
    code, _, field, _ = await error_of(stack.stub.SubmitLipsyncImageMulti(
        jobs_pb2.SubmitLipsyncImageMultiRequest(form_state=form), metadata=auth(stack.key)))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "formState.order")
    form.order = "left_right"
    code, _, field, _ = await error_of(stack.stub.SubmitLipsyncImageMulti(
        jobs_pb2.SubmitLipsyncImageMultiRequest(form_state=form, webhook="javascript:alert(1)"),
        metadata=auth(stack.key)))
    assert (code, field) == (grpc.StatusCode.INVALID_ARGUMENT, "webhook")


@pytest.mark.parametrize("metadata", [
    (), (("authorization", "Basic abc"),), (("authorization", "Bearer nope"),),
    (("authorization", "Bearer sk_abc123_" + "x" * 40),),
])
async def test_every_auth_failure_is_unauthenticated(stack: Stack, metadata: tuple) -> None:
    code, *_ = await error_of(stack.stub.SubmitLipsyncImage(image_request(), metadata=metadata))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_revoked_key_and_other_accounts(stack: Stack) -> None:
    reply = await stack.stub.SubmitLipsyncImage(image_request(), metadata=auth(stack.key))
    other = await AccountStore(stack.redis).create_key("other", credits=100)
    for call in (stack.stub.GetJob(jobs_pb2.GetJobRequest(id=reply.id), metadata=auth(other.api_key)),
                 stack.stub.CancelJob(jobs_pb2.CancelJobRequest(id=reply.id), metadata=auth(other.api_key))):
        code, *_ = await error_of(call)
        assert code == grpc.StatusCode.NOT_FOUND
    listed = await stack.stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=auth(other.api_key))
    assert list(listed.jobs) == []
    await AccountStore(stack.redis).revoke(other.key_id)
    code, _, _, message = await error_of(
        stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=auth(other.api_key)))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in message


async def test_new_keys_are_letters_and_digits(stack: Stack) -> None:
    """A new key's secret is base62 (one double click selects all of it) and as strong as the
    old 32-byte secrets; the key splits at its two underscores."""
    made = [await AccountStore(stack.redis).create_key(f"k{i}") for i in range(20)]
    for new in made:
        prefix, key_id, secret = new.api_key.split("_")
        assert (prefix, key_id) == ("sk", new.key_id)
        assert secret.isascii() and secret.isalnum() and len(secret) * math.log2(62) >= 256
        await stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=auth(new.api_key))
    assert len({new.api_key for new in made}) == len(made)
    assert set("".join(new.api_key.split("_")[2] for new in made)) > set(string.digits)


async def test_keys_made_before_base62_keep_working(stack: Stack) -> None:
    """A key from before (a `token_urlsafe` secret, `-` and `_` in it) still authenticates."""
    key_id, secret = "0123456789ab", "Old_style-secret_" + "x" * 26  # 43 characters, like token_urlsafe(32)
    await stack.redis.hset(keys.api_key(key_id), mapping={
        "hash": hashlib.sha256(secret.encode()).hexdigest(), "account": stack.account,
        "name": "old", "created_at": 0, "revoked": 0})
    old = f"sk_{key_id}_{secret}"
    assert await AccountStore(stack.redis).authenticate(old) == (stack.account, key_id)
    reply = await stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=auth(old))
    assert reply.credits == 100
    code, *_ = await error_of(stack.stub.GetAccount(jobs_pb2.GetAccountRequest(),
                                                    metadata=auth(old.replace("-", "_"))))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_short_of_credits_queues_nothing(stack: Stack) -> None:
    poor = await AccountStore(stack.redis).create_key("poor", credits=19)
    code, reason, _, message = await error_of(stack.stub.SubmitLipsyncImage(
        image_request(resolution="720p"), metadata=auth(poor.api_key)))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS")
    assert "20" in message and "19" in message
    assert await stack.redis.xlen(keys.JOB_QUEUE) == 0
    assert await AccountStore(stack.redis).credits(poor.account_id) == 19


async def test_cancel_refunds_and_fails_the_job(stack: Stack) -> None:
    reply = await stack.stub.SubmitLipsyncImage(image_request(), metadata=auth(stack.key))
    job = await stack.stub.CancelJob(jobs_pb2.CancelJobRequest(id=reply.id), metadata=auth(stack.key))
    assert (job.status, job.error) == ("failed", "Job was canceled")
    assert await AccountStore(stack.redis).credits(stack.account) == 100
    code, *_ = await error_of(stack.stub.CancelJob(jobs_pb2.CancelJobRequest(id=reply.id),
                                                   metadata=auth(stack.key)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION


async def test_admin_service_needs_the_token(stack: Stack) -> None:
    code, *_ = await error_of(stack.admin.ListKeys(admin_pb2.ListKeysRequest(), metadata=auth("wrong")))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    made = await stack.admin.CreateKey(admin_pb2.CreateKeyRequest(name="n", credits=7),
                                       metadata=auth(ADMIN))
    assert made.api_key.startswith(f"sk_{made.key_id}_") and made.webhook_secret.startswith("whsec_")
    account = await stack.stub.GetAccount(jobs_pb2.GetAccountRequest(), metadata=auth(made.api_key))
    assert account.credits == 7
    listed = await stack.admin.ListKeys(admin_pb2.ListKeysRequest(), metadata=auth(ADMIN))
    assert made.key_id in [k.key_id for k in listed.keys]


async def test_health_is_serving(stack: Stack) -> None:
    health = health_pb2_grpc.HealthStub(stack.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="lipsync.v1.JobService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_finished_jobs_expire_after_the_retention_period(stack: Stack) -> None:
    reply = await stack.stub.SubmitLipsyncImage(image_request(), metadata=auth(stack.key))
    store = JobStore(stack.redis, retention_seconds=3600)
    assert await stack.redis.ttl(keys.job(reply.id)) == -1  # processing jobs never expire
    await store.complete(await store.get(reply.id), f"outputs/{reply.id}.mp4", 10, {})
    assert 3590 <= await stack.redis.ttl(keys.job(reply.id)) <= 3600
    # An old entry in the account's index is forgotten when a later job finishes.
    await stack.redis.zadd(keys.account_jobs(stack.account), {"old-job": 1000})
    second = await stack.stub.SubmitLipsyncImage(image_request(), metadata=auth(stack.key))
    await store.fail(await store.get(second.id), "Invalid audio format")
    assert await stack.redis.zscore(keys.account_jobs(stack.account), "old-job") is None
    assert await stack.redis.zscore(keys.account_jobs(stack.account), reply.id) is not None
