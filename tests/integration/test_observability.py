"""Metrics and structured logs, on the real proxy and job service."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_proxy import Stack, _stack

from services.core import logs
from services.devtools.redis_server import RedisServer
from services.store.connection import RedisClient


@pytest.fixture
async def stack(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Stack]:
    async for s in _stack(redis_server, redis, tmp_path / "data"):
        yield s


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template_and_jobs(stack: Stack) -> None:
    before = (await stack.client.get("/metrics")).text
    headers = await stack.auth()
    job_id = await stack.submit(headers)
    assert (await stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).status_code == 200
    reply = await stack.client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    after = reply.text
    route = "/api/v1/jobs/{id}"
    assert sample(after, "lipsync_http_requests_total", route=route, method="GET", status="200") == \
        sample(before, "lipsync_http_requests_total", route=route, method="GET", status="200") + 1
    assert sample(after, "lipsync_jobs_submitted_total", model="lipsync-image") == \
        sample(before, "lipsync_jobs_submitted_total", model="lipsync-image") + 1
    # Raw ids never become label values: the number of series stays bounded.
    assert job_id not in after
    for name in ("lipsync_job_duration_seconds", "lipsync_job_stage_seconds",
                 "lipsync_queue_waiting_jobs", "lipsync_webhook_attempts_total",
                 "lipsync_triton_request_seconds", "lipsync_http_request_seconds"):
        assert re.search(rf"^# TYPE {name} ", after, re.MULTILINE), name


async def test_logs_are_json_with_request_and_job_ids(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    headers = {**(await stack.auth()), "X-Request-Id": "req-observability-1"}
    with caplog.at_level(logging.INFO):
        job_id = await stack.submit(headers)
    formatter = logs.JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == "job submitted"]
    assert lines, "the job service logs each submit"
    line = lines[-1]
    assert line["request_id"] == "req-observability-1"
    assert line["job_id"] == job_id
    assert line["level"] == "info" and line["time"].endswith("Z")
