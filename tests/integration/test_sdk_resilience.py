"""The Python SDK when the network misbehaves, against the real proxy and job service
(`live_stack`): its requests go over real HTTP through a transport that injects one fault each
(an answer lost after the server acted, a 503, an event stream cut mid-way, a server without the
event stream), as httpx's transports allow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from lipsync_client import Client, Job
from live_stack import FORM, Live, serve_live
from waiting import wait_until_async

from services.devtools.redis_server import RedisServer
from services.store.connection import RedisClient


class Faults(httpx.BaseTransport):
    """The real HTTP transport, and one fault the test asks for."""

    def __init__(self, *, lose_answer_to: str = "", unavailable_once: str = "", cut_stream: bool = False,
                 no_events: bool = False) -> None:
        self.real = httpx.HTTPTransport()
        self.lose_answer_to, self.unavailable_once = lose_answer_to, unavailable_once
        self.cut_stream, self.no_events = cut_stream, no_events
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.path
        if self.no_events and path.endswith("/events"):  # an older server: no such route
            return httpx.Response(404, json={"error": "No such route", "code": "not_found"})
        if path == self.unavailable_once:
            self.unavailable_once = ""
            return httpx.Response(503, headers={"Retry-After": "0"}, json={
                "error": "The service cannot take work right now", "code": "unavailable"})
        response = self.real.handle_request(request)
        if path == self.lose_answer_to:  # the server acted; its answer never arrives
            self.lose_answer_to = ""
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        if self.cut_stream and path.endswith("/events") and response.status_code == 200:
            self.cut_stream = False
            return httpx.Response(200, headers=response.headers, stream=_FirstEventOnly(response),
                                  request=request)
        return response

    def close(self) -> None:
        self.real.close()


class _FirstEventOnly(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        buffered = b""
        for chunk in self.response.iter_raw():
            buffered += chunk
            if b"\n\n" in buffered:
                yield buffered[:buffered.index(b"\n\n") + 2]
                self.response.close()
                raise httpx.RemoteProtocolError("peer closed connection mid-stream")

    def close(self) -> None:
        self.response.close()


@pytest.fixture
async def live(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Live]:
    async with serve_live(redis_server, redis, tmp_path) as running:
        yield running


async def _finish_as_seen(live: Live, job_id: str, seen: Callable[[], list[float]],
                         steps: tuple[float, ...] = (0.3, 0.6)) -> None:
    """Move the job on as a worker would, each step once the client has seen the one before (not
    after a guess at how long the client takes to look)."""
    for before, progress in zip((0.0, *steps), (*steps, 1.0), strict=True):
        await wait_until_async(lambda: before in seen(), timeout=30,  # noqa: B023
                               what=f"the client to see progress {before}", context=seen)
        if progress < 1.0:
            await live.store.set_progress(job_id, progress)
    await live.store.complete(await live.store.get(job_id), "outputs/x.mp4", 900, {"inference": 800.0})


async def test_a_submit_whose_answer_was_lost_is_retried_into_the_same_job(live: Live) -> None:
    key = (await live.key()).api_key
    faults = Faults(lose_answer_to="/api/v1/lipsync-image", unavailable_once="/api/v1/account")
    with Client(base_url=live.base_url, api_key=key, transport=faults) as client:
        job = await asyncio.to_thread(client.lipsync_image, image=FORM["image"], audio=FORM["audio"])
        listed = await asyncio.to_thread(client.list_jobs)
        account = await asyncio.to_thread(client.account)  # after a 503, retried
    submits = [r for r in faults.sent if r.url.path == "/api/v1/lipsync-image"]
    assert len(submits) == 2 and len({r.headers["idempotency-key"] for r in submits}) == 1
    assert [j.id for j in listed] == [job.id]  # one job, charged once
    assert account.credits == 1000 - 10
    assert [r.url.path for r in faults.sent].count("/api/v1/account") == 2


async def test_wait_resumes_a_cut_stream_after_the_last_event(live: Live) -> None:
    headers = await live.auth()
    job_id = await live.submit(headers)
    faults = Faults(cut_stream=True)
    seen: list[Job] = []
    client = Client(base_url=live.base_url, api_key=headers["Authorization"][7:], transport=faults)
    finishing = asyncio.create_task(_finish_as_seen(live, job_id, lambda: [j.progress for j in seen]))
    try:
        job = await asyncio.to_thread(client.wait, job_id, on_progress=seen.append, timeout=30)
    finally:
        client.close()
        await finishing
    streams = [r for r in faults.sent if r.url.path.endswith("/events")]
    assert len(streams) >= 2 and "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == "1"  # the first event's id: the job as submitted
    assert job.status == "completed" and job.execution_time == 900
    # Each state once: the resumed stream starts at the job as it is now (each event is the whole
    # job, so steps passed while disconnected are not replayed), then goes on to the end.
    progress = [j.progress for j in seen]
    assert progress[0] == 0 and progress[-1] == 1.0 and progress == sorted(set(progress))


async def test_wait_polls_a_server_without_the_event_stream(live: Live) -> None:
    headers = await live.auth()
    job_id = await live.submit(headers)
    faults = Faults(no_events=True)
    seen: list[float] = []
    client = Client(base_url=live.base_url, api_key=headers["Authorization"][7:], transport=faults,
                    poll_interval=0.1)
    finishing = asyncio.create_task(_finish_as_seen(live, job_id, lambda: seen))
    try:
        job = await asyncio.to_thread(client.wait, job_id, on_progress=lambda j: seen.append(j.progress),
                                      timeout=30)
    finally:
        client.close()
        await finishing
    assert job.status == "completed" and seen[0] == 0 and seen[-1] == 1.0 and seen == sorted(seen)
    # It polled: at least one GET for each state it saw (the job waited until it had seen each).
    assert sum(r.url.path == f"/api/v1/jobs/{job_id}" for r in faults.sent) >= 4
