"""`GET /api/v1/jobs/{id}/events`: the WatchJob stream as Server-Sent Events, over real HTTP (the
proxy under uvicorn on a loopback port) in front of the real job service and redis-server. No
worker runs: the test moves the job through the store, as a worker would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_stack import Live, serve_live
from waiting import wait_until_async

from services.devtools.redis_server import RedisServer
from services.store.connection import RedisClient

KEEPALIVE = 0.4


@dataclass
class Event:
    id: int | None
    event: str
    data: Any


@pytest.fixture
async def live(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Live]:
    async with serve_live(redis_server, redis, tmp_path, keepalive=KEEPALIVE,
                          rate_limit_read_per_minute=30) as running:
        yield running


async def _events(response: httpx.Response, comments: list[str] | None = None) -> AsyncIterator[Event]:
    """The events of an SSE answer as they arrive (the parsing rules of the SSE spec we use)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield Event(int(fields["id"]) if "id" in fields else None, fields.get("event", "message"),
                            json.loads(fields["data"]))
            fields = {}
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def test_one_event_per_change_then_the_end(live: Live) -> None:
    headers = await live.auth()
    job_id = await live.submit(headers)
    seen: list[Event] = []
    comments: list[str] = []
    async with live.client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert int(response.headers["x-ratelimit-limit"]) == 30
        async for event in _events(response, comments):
            seen.append(event)
            progress = event.data["progress"]
            if event.data["status"] != "processing":
                continue
            if progress == 0 and not comments:
                await asyncio.sleep(KEEPALIVE * 2.5)  # quiet: keep-alive comments go out
            if progress < 0.5:
                await live.store.set_progress(job_id, progress + 0.25)
                await live.store.set_progress(job_id, progress + 0.25)  # the same: no new event
            else:
                job = await live.store.get(job_id)
                await live.store.complete(job, "outputs/x.mp4", 1234, {"inference": 1000.0})
    assert [e.data["progress"] for e in seen] == [0, 0.25, 0.5, 1.0]
    assert [e.data["status"] for e in seen] == ["processing"] * 3 + ["completed"]
    ids = [e.id for e in seen]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))  # type: ignore[type-var]
    assert comments and all(c.startswith(":") for c in comments)
    polled = (await live.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
    # The same JSON as the GET (the output link is signed when presented: its expiry may differ).
    assert {**seen[-1].data, "output": None} == {**polled, "output": None}
    assert seen[-1].data["output"].split("?")[0] == polled["output"].split("?")[0]
    assert polled["output"] and polled["executionTime"] == 1234


async def test_last_event_id_resumes_after_what_was_seen(live: Live) -> None:
    headers = await live.auth()
    job_id = await live.submit(headers)
    url = f"/api/v1/jobs/{job_id}/events"
    async with live.client.stream("GET", url, headers=headers) as response:
        first = await anext(_events(response))
    assert first.data["progress"] == 0 and first.id is not None
    await live.store.set_progress(job_id, 0.5)  # missed while disconnected
    resumed: list[Event] = []
    resume = {**headers, "Last-Event-ID": str(first.id)}
    async with live.client.stream("GET", url, headers=resume) as response:
        assert response.status_code == 200
        async for event in _events(response):
            resumed.append(event)
            if len(resumed) == 1:
                await live.store.fail(await live.store.get(job_id), "No face found in the image")
    assert [(e.data["status"], e.data["progress"]) for e in resumed] == [("processing", 0.5), ("failed", 0.5)]
    assert resumed[0].id is not None and resumed[0].id > first.id
    assert resumed[1].data["error"] == "No face found in the image"
    # Resuming after the final event: nothing more to send, and EventSource stops at a 204.
    last = resumed[-1].id
    ended = await live.client.get(url, headers={**headers, "Last-Event-ID": str(last)})
    assert ended.status_code == 204 and ended.content == b""
    # From an earlier event: only the final state, once.
    async with live.client.stream("GET", url, headers={**headers, "Last-Event-ID": str(first.id)}) as r:
        again = [e async for e in _events(r)]
    assert [(e.id, e.data["status"]) for e in again] == [(last, "failed")]
    # The same as a query parameter (for clients that cannot set headers), and a bad one is a 400.
    assert (await live.client.get(url, headers=headers, params={"lastEventId": last})).status_code == 204
    bad = await live.client.get(url, headers={**headers, "Last-Event-ID": "soon"})
    assert bad.status_code == 400 and bad.json()["field"] == "lastEventId"


async def test_auth_cross_account_and_budget_as_the_get(live: Live) -> None:
    owner, other = await live.auth(), await live.auth()
    job_id = await live.submit(owner)
    url = f"/api/v1/jobs/{job_id}/events"
    assert (await live.client.get(url)).status_code == 401
    assert (await live.client.get(url, headers={"Authorization": "Bearer sk_x_y"})).status_code == 401
    for_other = await live.client.get(url, headers=other)
    as_get = await live.client.get(f"/api/v1/jobs/{job_id}", headers=other)
    assert for_other.status_code == as_get.status_code == 404
    assert for_other.json()["error"] == as_get.json()["error"]
    assert for_other.headers["content-type"] == "application/json"
    unknown = await live.client.get("/api/v1/jobs/0b7c1f9e-5a9c-4d0e-9a7e-6f2f2b1d9c11/events", headers=owner)
    assert unknown.status_code == 404
    await live.store.fail(await live.store.get(job_id), "Job was canceled")
    # Each stream is one read of the key's budget (30 a minute here: 30 at once, then one more
    # every 2 s), like a GET. Streams are opened until one is refused; how many got through is
    # bounded by the budget and what the time they took gave back, however long that was.
    statuses: list[int] = []

    async def open_stream() -> int:
        statuses.append((await live.client.get(url, headers=other)).status_code)
        return statuses[-1]

    started = time.monotonic()
    await wait_until_async(open_stream, until=lambda status: status == 429, timeout=120, interval=0,
                           what="a 429 once the read budget is spent")
    given_back = (time.monotonic() - started) / 2
    assert set(statuses[:-1]) == {404} and len(statuses) - 1 <= 30 + given_back, statuses
    limited = await live.client.get(url, headers=other)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_listed_in_openapi(live: Live) -> None:
    doc = (await live.client.get("/openapi.json")).json()
    operation = doc["paths"]["/api/v1/jobs/{id}/events"]["get"]
    assert operation["operationId"] == "WatchJob"
    ok = operation["responses"]["200"]["content"]["text/event-stream"]
    assert ok["x-event-data"] == {"$ref": "#/components/schemas/Job"}
    assert "204" in operation["responses"] and "404" in operation["responses"]
    names = {(p["name"], p["in"]) for p in operation["parameters"]}
    assert {("id", "path"), ("Last-Event-ID", "header"), ("lastEventId", "query")} <= names
    assert "JobEvent" not in doc["components"]["schemas"]
