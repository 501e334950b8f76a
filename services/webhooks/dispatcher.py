"""The webhook dispatcher: finished jobs -> signed POSTs to their webhooks, retried with backoff.

It runs as its own role, `lipsync serve webhooks` (`services/cli/serve.py`), never inside the
public proxy: it reads Redis and every account's webhook secret, which the edge must not hold.
Two loops share one Redis, so any number of dispatchers (one per replica) cooperate:

- events: reads JOB_EVENTS in the WEBHOOK_GROUP consumer group. For a finished job with a
  webhook it writes the delivery (body = the public job object, exactly what GET
  /api/v1/jobs/{id} answers) and acknowledges the event in the same step. A dispatcher that dies
  before that leaves the event pending; any dispatcher takes it over after `claim_idle` seconds.
  Writing a delivery twice is harmless (one delivery per job).
- schedule: claims due deliveries (see `webhook_deliveries`) and sends them concurrently, at
  most `concurrency` at once, so a receiver that hangs holds one slot, never the queue.

A 2xx answer delivers; any other status, a timeout or a connection error is a failed attempt,
tried again after `backoff[n]` seconds; after `len(backoff) + 1` attempts the delivery fails.
A URL the server's rules refuse is never contacted: one `refused` attempt, and it fails.
Delivery is at least once: receivers deduplicate on the `webhook-id` header.

Running one: `task = asyncio.create_task(dispatcher.run())`, then `await dispatcher.stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from redis.exceptions import RedisError, ResponseError

from proxy.jsonmap import message_to_json_dict
from services.core import metrics
from services.core.errors import NotFound
from services.core.settings import Settings
from services.core.vocabulary import AttemptResult
from services.jobs.present import job_message
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore, Status
from services.store.streams import StreamConsumer, StreamEntry
from services.webhooks.deliveries import AttemptRecord, Claim, DeliveryState, DeliveryStore
from services.webhooks.signing import signature_headers
from services.webhooks.target import RefusedURL, UnresolvableHost, resolve_target

log = logging.getLogger(__name__)

USER_AGENT = "lipsync-webhooks/1"
# Seconds to wait after each failed attempt: 8 attempts spread over about 3.5 hours.
DEFAULT_BACKOFF: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200)


@dataclass(frozen=True)
class WebhookTimeouts:
    connect: float = 5.0
    read: float = 10.0
    total: float = 15.0  # the whole attempt: DNS, connect, TLS, send, the answer's headers


class _Final(Exception):
    """An attempt that must not be retried (e.g. the account is gone)."""


class WebhookDispatcher:
    def __init__(self, redis: RedisClient, settings: Settings, http: httpx.AsyncClient | None = None,
                 *, backoff: Sequence[float] = DEFAULT_BACKOFF,
                 timeouts: WebhookTimeouts = WebhookTimeouts(), concurrency: int = 16,
                 poll_interval: float = 1.0, claim_idle: float = 60.0, grace: float = 5.0,
                 consumer: str | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.backoff = tuple(backoff)
        self.max_attempts = len(self.backoff) + 1
        self.timeouts = timeouts
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.claim_idle = claim_idle  # an event unacknowledged this long is taken over
        self.grace = grace  # how long stop() lets attempts in flight finish
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        # A claim outlives the longest attempt, so it only lapses when its dispatcher died.
        self.lease_seconds = timeouts.total + 10.0
        self.store = DeliveryStore(redis)
        self.jobs = JobStore(redis)
        self.accounts = AccountStore(redis)
        self._owns_http = http is None
        # No keep-alive: requests are pinned to an IP, and a pooled connection must not carry
        # one host's request over another host's TLS session.
        self.http = http or httpx.AsyncClient(
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0))
        self._inflight: dict[asyncio.Task[None], Claim] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._started = False
        self._last_reclaim = 0.0
        self.events = StreamConsumer(redis, keys.JOB_EVENTS, keys.WEBHOOK_GROUP)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until `stop()` (or until cancelled)."""
        if self._started:
            raise RuntimeError("a WebhookDispatcher runs once")
        self._started = True
        try:
            await self.events.ensure_group()
            events = asyncio.create_task(self._event_loop(), name="webhook-events")
            schedule = asyncio.create_task(self._schedule_loop(), name="webhook-schedule")
            try:
                await self._stopping.wait()
            finally:
                self._stopping.set()  # also when run() itself was cancelled
                events.cancel()  # may sit in a blocking read; an unfinished event stays pending
                self._wake.set()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(schedule, self.poll_interval + 5)
                await asyncio.gather(events, return_exceptions=True)
                await self._drain()
                await self.events.forget(self.consumer)
        finally:
            if self._owns_http:
                await self.http.aclose()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop taking work, let attempts in flight finish (up to `grace` s), and return."""
        self._stopping.set()
        self._wake.set()
        if self._started:
            await self._stopped.wait()
        elif self._owns_http:
            await self.http.aclose()

    async def _drain(self) -> None:
        if not self._inflight:
            return
        claims = dict(self._inflight)
        _, late = await asyncio.wait(list(claims), timeout=self.grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for task in late:  # unsent (or half sent): due again now, for the next dispatcher
            with contextlib.suppress(RedisError):
                await self.store.release(claims[task], time.time())

    # -- events -> deliveries --------------------------------------------------------------

    async def _event_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                for entry in await self._reclaim_events() + await self._read_events():
                    try:
                        await self._on_event(entry.entry_id, entry.fields)
                    except (RedisError, ValueError, KeyError) as exc:
                        # Left pending: taken over again after `claim_idle`.
                        log.warning("webhook event %s: %s", entry.entry_id, exc)
            except Exception as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self.events.ensure_group()  # the stream was deleted under us
                    continue
                log.warning("webhook events: %s", exc)
                await asyncio.sleep(self.poll_interval)

    async def _read_events(self) -> list[StreamEntry]:
        block_ms = max(1, int(self.poll_interval * 1000))
        return await self.events.read(self.consumer, count=32, block_ms=block_ms)

    async def _reclaim_events(self) -> list[StreamEntry]:
        """Events another dispatcher read but never acknowledged (it died)."""
        now = time.monotonic()
        if now - self._last_reclaim < self.claim_idle / 2:
            return []
        self._last_reclaim = now
        return await self.events.reclaim(self.consumer, self.claim_idle, count=32)

    async def _on_event(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            record = await self.jobs.get(fields.get("job", ""))
        except NotFound:
            record = None
        if record is None or not record.webhook or record.status is Status.PROCESSING:
            await self.events.ack(entry_id)
            return
        # Fixed now, so every attempt sends the same bytes under the same webhook-id.
        body = json.dumps(message_to_json_dict(job_message(record, self.settings)),
                          ensure_ascii=False, separators=(",", ":"))
        created = await self.store.create(record.id, record.webhook, record.account, body,
                                          time.time(), event=(keys.WEBHOOK_GROUP, entry_id))
        if created:
            self._wake.set()

    # -- schedule -> attempts ----------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking, so a wake-up while looking is not lost
            try:
                await self._start_due()
                delay = await self._idle_time()
            except Exception as exc:
                log.warning("webhook schedule: %s", exc)
                delay = self.poll_interval
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _start_due(self) -> None:
        now = time.time()
        for did in await self.store.due(now, self.concurrency - len(self._inflight)):
            claim = await self.store.claim(did, now, self.lease_seconds)
            if claim is None:
                continue  # another dispatcher has it
            task = asyncio.create_task(self._attempt(claim), name=f"webhook-{did}")
            self._inflight[task] = claim
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()  # a slot is free

    async def _idle_time(self) -> float:
        if len(self._inflight) >= self.concurrency:
            return self.poll_interval  # woken when a slot frees
        soonest = await self.store.next_due()
        if soonest is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.005, soonest - time.time()))

    async def _attempt(self, claim: Claim) -> None:
        started, clock = time.time(), time.monotonic()
        status: int | None = None
        error = ""
        try:
            status = await self._send(claim)
            result = AttemptResult.DELIVERED if 200 <= status < 300 else AttemptResult.RETRY
        except RefusedURL as exc:
            result, error = AttemptResult.REFUSED, f"refused: {exc}"
        except _Final as exc:
            result, error = AttemptResult.FAILED, str(exc)
        except Exception as exc:
            result, error = AttemptResult.RETRY, _describe(exc, self.timeouts)
        duration_ms = round((time.monotonic() - clock) * 1000)
        if result is AttemptResult.RETRY and claim.attempt >= self.max_attempts:
            result = AttemptResult.FAILED
        state = {AttemptResult.DELIVERED: DeliveryState.DELIVERED,
                 AttemptResult.RETRY: DeliveryState.PENDING}.get(result, DeliveryState.FAILED)
        now = time.time()
        next_at = now + self.backoff[claim.attempt - 1] if state is DeliveryState.PENDING else None
        attempt = AttemptRecord(claim.attempt, started, duration_ms, status, error, result)
        metrics.webhook_attempts.labels(result).inc()
        try:
            recorded = await self.store.record(claim, attempt, state, next_at, now)
        except RedisError as exc:  # the lease will lapse and the attempt be made again
            log.warning("webhook %s: could not record attempt %d: %s", claim.delivery.id,
                        claim.attempt, exc)
            return
        if not recorded:
            log.warning("webhook %s: claim lapsed before attempt %d was recorded",
                        claim.delivery.id, claim.attempt)
        elif result is not AttemptResult.DELIVERED:
            log.info("webhook %s attempt %d: %s", claim.delivery.id, claim.attempt,
                     error or f"HTTP {status}")

    async def _send(self, claim: Claim) -> int:
        """POST the delivery once; the receiver's status code."""
        delivery = claim.delivery
        try:
            account = await self.accounts.account(delivery.account)
        except NotFound as exc:
            raise _Final("the job's account no longer exists") from exc
        body = delivery.body.encode()
        t = self.timeouts
        async with asyncio.timeout(t.total):
            target = await resolve_target(delivery.url, self.settings, timeout=t.connect)
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                       **signature_headers(account["webhook_secret"], delivery.id, body),
                       **target.headers}
            async with self.http.stream(
                    "POST", target.url, content=body, headers=headers, extensions=target.extensions,
                    follow_redirects=False,  # a redirect could lead past the address check
                    timeout=httpx.Timeout(t.read, connect=t.connect, pool=t.connect)) as response:
                return response.status_code  # the body is not read: only the status matters


def _describe(exc: BaseException, timeouts: WebhookTimeouts) -> str:
    """A short, readable reason for an attempt that got no answer."""
    known: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: f"could not connect within {timeouts.connect:g} s",
        httpx.ReadTimeout: f"no answer within {timeouts.read:g} s",
        TimeoutError: f"no answer within {timeouts.total:g} s",
    }
    for kind, text in known.items():
        if isinstance(exc, kind):
            return text
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {detail}"[:300]
    if isinstance(exc, UnresolvableHost | httpx.HTTPError | OSError):
        return detail[:300]
    log.exception("webhook attempt failed unexpectedly", exc_info=exc)
    return f"internal error: {type(exc).__name__}"
