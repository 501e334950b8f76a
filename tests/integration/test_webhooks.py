"""Webhook delivery end to end: real Redis, real job records, a real HTTP receiver on loopback.

Backoff and timeouts are shortened to fractions of a second; everything else is as deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from waiting import wait_until_async

from proxy.jsonmap import message_to_json_dict
from services.core.settings import Settings
from services.devtools.redis_server import RedisServer
from services.jobs.present import job_message
from services.storage.links import check_signature
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient, connect
from services.store.jobs import JobRecord, JobStore
from services.webhooks.deliveries import Delivery, DeliveryState, DeliveryStore, delivery_id
from services.webhooks.dispatcher import USER_AGENT, WebhookDispatcher, WebhookTimeouts
from services.webhooks.signing import InvalidSignature, verify

pytestmark = pytest.mark.timeout(30)

FAST = WebhookTimeouts(connect=1.0, read=0.8, total=1.5)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP receiver on loopback. `script[path]` lists how to answer successive requests to
    that path (a status code, or "hang" to answer nothing for a long while); then 200."""

    port: int = 0
    script: dict[str, list[int | str]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int | str:
        with self.lock:
            self.requests.append(Received(path, headers, body))
            steps = self.script.get(path, [])
            return steps.pop(0) if steps else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = state.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if action == "hang":
                state.release.wait(20)
                action = 200
            with contextlib.suppress(OSError):  # the sender may have given up already
                self.send_response(int(action))
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def dispatcher(redis: RedisClient, settings: Settings, backoff: tuple[float, ...] = (0.2, 0.3, 0.4),
               claim_idle: float = 0.3, concurrency: int = 16) -> WebhookDispatcher:
    """A dispatcher on a fast clock: fractions of a second where production waits minutes."""
    return WebhookDispatcher(redis, settings, backoff=backoff, timeouts=FAST, poll_interval=0.05,
                             claim_idle=claim_idle, grace=0.5, concurrency=concurrency)


@contextlib.asynccontextmanager
async def running(d: WebhookDispatcher) -> AsyncIterator[WebhookDispatcher]:
    task = asyncio.create_task(d.run())
    try:
        yield d
    finally:
        await d.stop()
        await task


async def until_state(store: DeliveryStore, job_id: str, *states: DeliveryState,
                      attempts: int = 1) -> Delivery:
    found = await wait_until_async(
        lambda: store.get(delivery_id(job_id)),
        until=lambda d: d is not None and d.state in states and d.attempts >= attempts,
        timeout=10, interval=0.02,
        what=f"the delivery of job {job_id} in {[s.value for s in states]} after {attempts}+ attempts")
    assert found is not None
    return found


async def settled(redis: RedisClient, *jobs: JobRecord) -> None:
    """Wait until nothing is left that could send these jobs' webhooks again: every event read
    and acknowledged (none pending, so none is taken over), and no delivery of theirs scheduled
    (none due for another attempt). Checked after this, an absence needs no sleep."""
    async def left() -> dict[str, object]:
        last = (await redis.xinfo_stream(keys.JOB_EVENTS))["last-generated-id"]
        groups = {g["name"]: g for g in await redis.xinfo_groups(keys.JOB_EVENTS)}
        group = groups.get(keys.WEBHOOK_GROUP, {})
        return {"read up to the last event": group.get("last-delivered-id") == last,
                "pending events": group.get("pending"),
                "scheduled": [delivery_id(j.id) for j in jobs
                              if await redis.zscore(keys.WEBHOOK_SCHEDULE, delivery_id(j.id)) is not None]}

    nothing_left = {"read up to the last event": True, "pending events": 0, "scheduled": []}
    await wait_until_async(left, until=lambda found: found == nothing_left, timeout=10, interval=0.02,
                           what="every event read and acknowledged, no delivery scheduled")


@dataclass
class Account:
    id: str
    secret: str


@pytest.fixture
async def account(redis: RedisClient) -> Account:
    key = await AccountStore(redis).create_key("webhooks", credits=1000)
    return Account(key.account_id, key.webhook_secret)


async def finished_job(redis: RedisClient, account: Account, webhook: str,
                       error: str = "") -> JobRecord:
    """A job submitted and then completed (or failed with `error`), as a worker leaves it."""
    jobs = JobStore(redis)
    job = await jobs.submit(account.id, "lipsync-image",
                            {"image": "https://example.com/a.png", "audio": "https://example.com/a.wav"},
                            webhook, "480p", 7, 10)
    if error:
        await jobs.fail(job, error, execution_ms=1200)
    else:
        await jobs.complete(job, f"outputs/{job.id}.mp4", 4321, {"inference": 1000.4, "encode": 80})
    return await jobs.get(job.id)


async def test_job_json_delivered_once_and_signed(redis: RedisClient, settings: Settings,
                                                  receiver: Receiver, account: Account) -> None:
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings)):
        done = await finished_job(redis, account, receiver.url("/done"))
        failed = await finished_job(redis, account, receiver.url("/failed"), "No face found in the image")
        await until_state(store, done.id, DeliveryState.DELIVERED)
        await until_state(store, failed.id, DeliveryState.DELIVERED)
        await settled(redis, done, failed)  # so no duplicate can still be on its way
    assert len(receiver.at("/done")) == 1 and len(receiver.at("/failed")) == 1

    # A failed job: exactly what GET /api/v1/jobs/{id} answers.
    got = receiver.at("/failed")[0]
    expected = message_to_json_dict(job_message(failed, settings))
    assert json.loads(got.body) == expected
    assert list(expected)[:7] == ["id", "model", "status", "output", "error", "executionTime", "timings"]
    assert expected["output"] is None and expected["error"] == "No face found in the image"

    # A completed one too; its output link is signed when the job ends, so compare it as a link.
    got = receiver.at("/done")[0]
    body = json.loads(got.body)
    expected = message_to_json_dict(job_message(done, settings))
    assert {k: v for k, v in body.items() if k != "output"} == {
        k: v for k, v in expected.items() if k != "output"}
    link = urlsplit(body["output"])
    query = parse_qs(link.query)
    assert link.path == f"/files/outputs/{done.id}.mp4"
    assert check_signature(settings, f"outputs/{done.id}.mp4", query["expires"][0], query["sig"][0])
    assert body["status"] == "completed" and body["executionTime"] == 4321

    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == USER_AGENT
    assert got.headers["webhook-id"] == delivery_id(done.id)
    verify(account.secret, got.headers, got.body)
    with pytest.raises(InvalidSignature):
        verify(account.secret, got.headers, got.body.replace(b"completed", b"failed"))
    earlier = str(int(got.headers["webhook-timestamp"]) - 1)
    with pytest.raises(InvalidSignature):
        verify(account.secret, got.headers | {"webhook-timestamp": earlier}, got.body)
    [attempt] = await store.attempts(delivery_id(done.id))
    assert attempt.status == 200 and attempt.result == "delivered" and attempt.error == ""


async def test_retried_with_backoff_until_delivered(redis: RedisClient, settings: Settings,
                                                    receiver: Receiver, account: Account) -> None:
    receiver.script["/flaky"] = [500, 500]
    receiver.script["/down"] = [503] * 10
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings, backoff=(0.2, 0.3))):
        flaky = await finished_job(redis, account, receiver.url("/flaky"))
        down = await finished_job(redis, account, receiver.url("/down"))
        delivered = await until_state(store, flaky.id, DeliveryState.DELIVERED)
        gave_up = await until_state(store, down.id, DeliveryState.FAILED, attempts=3)

    attempts = await store.attempts(delivered.id)
    assert [(a.attempt, a.status, a.result) for a in attempts] == [
        (1, 500, "retry"), (2, 500, "retry"), (3, 200, "delivered")]
    assert attempts[1].at - attempts[0].at >= 0.2 and attempts[2].at - attempts[1].at >= 0.3
    sent = receiver.at("/flaky")
    assert len(sent) == 3 and {r.headers["webhook-id"] for r in sent} == {delivered.id}
    for request in sent:  # each attempt is signed afresh
        verify(account.secret, request.headers, request.body)

    assert [a.result for a in await store.attempts(gave_up.id)] == ["retry", "retry", "failed"]
    assert len(receiver.at("/down")) == 3 and gave_up.finished_at is not None
    assert await redis.zscore(keys.WEBHOOK_SCHEDULE, gave_up.id) is None


async def test_hanging_receiver_times_out_without_delaying_others(
        redis: RedisClient, settings: Settings, receiver: Receiver, account: Account) -> None:
    receiver.script["/hang"] = ["hang"]
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings)):
        slow = await finished_job(redis, account, receiver.url("/hang"))
        await wait_until_async(lambda: receiver.at("/hang"), timeout=10, interval=0.02,
                               what="the first attempt at /hang")
        fast = await finished_job(redis, account, receiver.url("/fast"))
        await until_state(store, fast.id, DeliveryState.DELIVERED)
        # Delivered while the other attempt waited: that one has not ended (no attempt recorded).
        assert await store.attempts(delivery_id(slow.id)) == []
        await until_state(store, slow.id, DeliveryState.DELIVERED, attempts=2)
    first, second = await store.attempts(delivery_id(slow.id))
    assert first.status is None and first.result == "retry" and "no answer" in first.error
    assert first.duration_ms >= FAST.read * 1000 * 0.9
    assert second.status == 200 and second.result == "delivered"


async def test_restarted_dispatcher_delivers_what_was_pending(
        redis_server: RedisServer, redis: RedisClient, settings: Settings, receiver: Receiver,
        account: Account) -> None:
    receiver.script["/later"] = [500]
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings, backoff=(1.0,))):
        retried = await finished_job(redis, account, receiver.url("/later"))
        await until_state(store, retried.id, DeliveryState.PENDING, attempts=1)
    # While no dispatcher runs: a retry is waiting, and another job ends. No sleep is needed to
    # show that nothing is sent meanwhile: no dispatcher exists (the last one's run() returned),
    # so nothing can send; what shows is that the new job's event is in the stream, unread.
    idle = await finished_job(redis, account, receiver.url("/while-down"))
    events = [fields["job"] for _, fields in await redis.xrange(keys.JOB_EVENTS)]
    assert idle.id in events and await store.get(delivery_id(idle.id)) is None
    assert len(receiver.at("/later")) == 1 and not receiver.at("/while-down")

    fresh = connect(redis_server.url)
    try:
        async with running(dispatcher(fresh, settings, backoff=(1.0,))):
            await until_state(store, retried.id, DeliveryState.DELIVERED, attempts=2)
            await until_state(store, idle.id, DeliveryState.DELIVERED)
    finally:
        await fresh.aclose()
    assert len(receiver.at("/later")) == 2 and len(receiver.at("/while-down")) == 1


async def test_stop_during_an_attempt_hands_the_delivery_back(
        redis: RedisClient, settings: Settings, receiver: Receiver, account: Account) -> None:
    receiver.script["/slow"] = ["hang"]
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings)):  # grace 0.5 s, shorter than the read timeout
        job = await finished_job(redis, account, receiver.url("/slow"))
        await wait_until_async(lambda: receiver.at("/slow"), timeout=10, interval=0.02,
                               what="the first attempt at /slow")
    handed_back = await store.get(delivery_id(job.id))
    assert handed_back is not None and handed_back.attempts == 0
    due = await redis.zscore(keys.WEBHOOK_SCHEDULE, handed_back.id)
    assert due is not None and due <= time.time()  # due now, not after the lease
    async with running(dispatcher(redis, settings)):
        await until_state(store, job.id, DeliveryState.DELIVERED)
    assert len(receiver.at("/slow")) == 2  # at least once: the receiver deduplicates on webhook-id


async def test_event_read_by_a_dispatcher_that_died_is_taken_over(
        redis: RedisClient, settings: Settings, receiver: Receiver, account: Account) -> None:
    await redis.xgroup_create(keys.JOB_EVENTS, keys.WEBHOOK_GROUP, id="0", mkstream=True)
    job = await finished_job(redis, account, receiver.url("/orphan"))
    # A dispatcher reads the event and dies before writing the delivery.
    read = await redis.xreadgroup(keys.WEBHOOK_GROUP, "dead", {keys.JOB_EVENTS: ">"}, count=10)
    assert read and read[0][1][0][1]["job"] == job.id
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, settings, claim_idle=0.2)):
        await until_state(store, job.id, DeliveryState.DELIVERED)
        await settled(redis, job)  # the dead dispatcher's event taken over and acknowledged
    assert len(receiver.at("/orphan")) == 1
    assert (await redis.xpending(keys.JOB_EVENTS, keys.WEBHOOK_GROUP))["pending"] == 0
    # Writing the delivery again (the event read twice) changes nothing.
    assert not await store.create(job.id, job.webhook, job.account, "{}", time.time())
    assert len(await store.attempts(delivery_id(job.id))) == 1


async def test_two_dispatchers_send_each_delivery_once(
        redis_server: RedisServer, redis: RedisClient, settings: Settings, receiver: Receiver,
        account: Account) -> None:
    other = connect(redis_server.url)
    store = DeliveryStore(redis)
    try:
        async with running(dispatcher(redis, settings, concurrency=2)), \
                running(dispatcher(other, settings, concurrency=2)):
            jobs = [await finished_job(redis, account, receiver.url(f"/many/{i}")) for i in range(6)]
            for job in jobs:
                await until_state(store, job.id, DeliveryState.DELIVERED)
            await settled(redis, *jobs)  # neither dispatcher has anything left to send
    finally:
        await other.aclose()
    assert sorted(r.path for r in receiver.requests) == sorted(f"/many/{i}" for i in range(6))


@pytest.mark.parametrize(("allow_http", "host", "reason"), [
    (False, "127.0.0.1", "https"),  # plain http while only https is allowed
    (True, "127.1", "public address"),  # the numeric spelling of loopback, refused unresolved
    (True, "127.0.0.1", "public address"),  # a loopback literal while private is refused
    (True, "localhost", "public address"),
])
async def test_refused_url_is_never_contacted(redis: RedisClient, receiver: Receiver, account: Account,
                                              settings: Settings, allow_http: bool, host: str,
                                              reason: str) -> None:
    strict = settings.with_(allow_http_webhooks=allow_http, allow_private_urls=allow_http is False)
    store = DeliveryStore(redis)
    async with running(dispatcher(redis, strict)):
        job = await finished_job(redis, account, f"http://{host}:{receiver.port}/private")
        await until_state(store, job.id, DeliveryState.FAILED)
    [attempt] = await store.attempts(delivery_id(job.id))
    assert attempt.result == "refused" and attempt.status is None and reason in attempt.error
    assert receiver.requests == []
