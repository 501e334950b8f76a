"""Webhook receivers that are down, or hang, for a while (beyond `test_webhooks.py`'s failing
statuses and single hang): the dispatcher backs off, records why each attempt failed, keeps
delivering to healthy receivers meanwhile, and delivers late once the receiver is back.

Real Redis, real job records, real HTTP receivers on loopback; backoff and timeouts shortened.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from waiting import wait_until_async

from services.core.settings import Settings
from services.devtools.redis_server import free_port
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore
from services.webhooks.deliveries import Delivery, DeliveryState, DeliveryStore, delivery_id
from services.webhooks.dispatcher import WebhookDispatcher, WebhookTimeouts

pytestmark = pytest.mark.timeout(60)

FAST = WebhookTimeouts(connect=0.5, read=0.6, total=1.0)


class Receiver:
    """An HTTP receiver on `port` that can be started late; `hang` makes it hold every request
    unanswered until `release` is set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.paths: list[str] = []
        self.hang = False
        self.release = threading.Event()
        self._server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.paths.append(self.path)
                if receiver.hang and self.path.startswith("/hang"):
                    receiver.release.wait(20)
                with contextlib.suppress(OSError):  # the sender may have given up already
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(free_port())
    try:
        yield state
    finally:
        state.stop()


@contextlib.asynccontextmanager
async def dispatching(redis: RedisClient, settings: Settings, backoff: tuple[float, ...],
                      concurrency: int) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(redis, settings, backoff=backoff, timeouts=FAST, poll_interval=0.05,
                                   claim_idle=0.3, grace=0.5, concurrency=concurrency)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        await task


async def finished_job(redis: RedisClient, account: str, webhook: str) -> str:
    jobs = JobStore(redis)
    job = await jobs.submit(account, "lipsync-image", {"image": "https://example.com/a.png",
                                                       "audio": "https://example.com/a.wav"},
                            webhook, "480p", 7, 10)
    await jobs.fail(job, "No face found in the image", execution_ms=10)
    return job.id


async def wait_state(store: DeliveryStore, job_id: str, state: DeliveryState,
                     timeout: float = 20) -> Delivery:
    found = await wait_until_async(lambda: store.get(delivery_id(job_id)),
                                   until=lambda d: d is not None and d.state == state,
                                   timeout=timeout, interval=0.02,
                                   what=f"the delivery of job {job_id} to be {state.value}")
    assert found is not None
    return found


@pytest.fixture
async def account(redis: RedisClient) -> str:
    return (await AccountStore(redis).create_key("outages", credits=1000)).account_id


async def test_a_receiver_that_is_down_gets_its_webhook_when_it_is_back(
        redis: RedisClient, settings: Settings, receiver: Receiver, account: str) -> None:
    store = DeliveryStore(redis)
    async with dispatching(redis, settings, backoff=(0.3, 0.3, 0.3, 0.3, 0.3), concurrency=4):
        job_id = await finished_job(redis, account, receiver.url("/down"))  # nothing listens yet
        await wait_until_async(lambda: store.attempts(delivery_id(job_id)), until=lambda a: len(a) >= 2,
                               timeout=10, interval=0.02, what="two refused attempts")
        receiver.start()
        await wait_state(store, job_id, DeliveryState.DELIVERED)
    attempts = await store.attempts(delivery_id(job_id))
    refused, delivered = attempts[:-1], attempts[-1]
    assert all(a.status is None and a.result == "retry" and a.error for a in refused)
    assert all("refused" in a.error or "connect" in a.error for a in refused), [a.error for a in refused]
    assert delivered.status == 200 and delivered.result == "delivered"
    assert all(later.at - earlier.at >= 0.3 for earlier, later in itertools.pairwise(attempts))
    assert receiver.paths == ["/down"]


async def test_more_hanging_receivers_than_slots_delay_others_only_by_a_timeout(
        redis: RedisClient, settings: Settings, receiver: Receiver, account: str) -> None:
    """Four receivers hang on a dispatcher with two slots: a healthy receiver still gets its
    webhook after about two rounds of read timeouts (before any hanging one is tried a third
    time), and the hanging ones get theirs once they answer."""
    receiver.hang = True
    receiver.start()
    store = DeliveryStore(redis)
    async with dispatching(redis, settings, backoff=(0.5, 0.5, 0.5, 0.5, 0.5, 0.5), concurrency=2):
        stuck = [await finished_job(redis, account, receiver.url(f"/hang/{i}")) for i in range(4)]
        # Their deliveries exist (due before the healthy one's) and both slots hang.
        for job_id in stuck:
            await wait_until_async(lambda: store.get(delivery_id(job_id)), timeout=10, interval=0.02,  # noqa: B023
                                   what=f"the delivery of job {job_id}")
        await wait_until_async(lambda: len(receiver.paths) >= 2, timeout=10, interval=0.02,
                               what="both slots taken by hanging receivers")
        healthy = await finished_job(redis, account, receiver.url("/healthy"))
        await wait_state(store, healthy, DeliveryState.DELIVERED)
        # Measured in the dispatcher's own steps, not in seconds: it waited its turn behind the
        # hanging attempts in flight, not behind their retries.
        tries = {job_id: len(await store.attempts(delivery_id(job_id))) for job_id in stuck}
        assert max(tries.values()) <= 2, tries
        receiver.hang = False
        receiver.release.set()
        for job_id in stuck:
            await wait_state(store, job_id, DeliveryState.DELIVERED)
    for job_id in stuck:
        attempts = await store.attempts(delivery_id(job_id))
        assert attempts[-1].result == "delivered"
        assert all(a.result == "retry" and "no answer" in a.error for a in attempts[:-1])
