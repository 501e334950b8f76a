"""What the sync and async clients share: settings, request bodies, retry rules, waiting state."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lipsync_client._errors import APIError, LipsyncError, RateLimited, WaitTimeout, error_from_response
from lipsync_client._models import Job

ENV_BASE_URL = "LIPSYNC_BASE_URL"
ENV_API_KEY = "LIPSYNC_API_KEY"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0  # seconds, per request
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_RETRY_WAIT = 60.0  # a 429 asking for longer is raised, not waited out
DEFAULT_POLL_INTERVAL = 3.0  # seconds between polls, where the event stream is not available
STREAM_READ_TIMEOUT = 45.0  # the server sends a comment every 15 s on a quiet stream
USER_AGENT = "lipsync-client-python/0.1.0"

Source = str | os.PathLike[str]  # an http(s) URL, or a local file to upload
ProgressCallback = Callable[[Job], Any]


class NoEventStream(Exception):
    """The server offers no event stream for jobs: poll instead."""


@dataclass(frozen=True)
class Options:
    base_url: str
    api_key: str
    timeout: float
    max_retries: int
    max_retry_wait: float
    poll_interval: float

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, timeout: float, max_retries: int,
                max_retry_wait: float, poll_interval: float) -> Options:
        key = api_key or os.environ.get(ENV_API_KEY, "")
        if not key:
            raise LipsyncError(f"No API key: pass api_key= or set {ENV_API_KEY}")
        url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
        return cls(url, key, timeout, max_retries, max_retry_wait, poll_interval)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}


def is_url(source: Source) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def local_file(source: Source) -> Path:
    path = Path(source)
    if not path.is_file():
        raise LipsyncError(f"{source}: no such file (give a local path or an http(s) URL)")
    return path


def form_state(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def submit_body(form: dict[str, Any], webhook: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"formState": form}
    if webhook:
        body["webhook"] = webhook
    return body


def idempotency_headers(key: str | None) -> dict[str, str]:
    """Every submit carries a key, so retrying it can never make (and charge) a second job."""
    return {"Idempotency-Key": key or str(uuid.uuid4())}


def backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)


def retryable_transport_error(exc: httpx.TransportError, safe: bool) -> bool:
    """A connection that failed before the request went out is always safe to retry; any other
    break only for requests that cannot act twice (reads, submits with their Idempotency-Key)."""
    return safe or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def error_of(response: httpx.Response) -> APIError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_response(response.status_code, body, response.headers)


def raise_for_answer(response: httpx.Response) -> None:
    if not response.is_success:
        raise error_of(response)


def retry_wait(error: APIError, safe: bool, attempt: int, options: Options) -> float | None:
    """Seconds to wait before trying again, or None to raise `error` now. A 429 is retried for
    any request (it was refused, not run); a 503 only for requests safe to repeat."""
    if attempt >= options.max_retries:
        return None
    if isinstance(error, RateLimited) or (error.status == 503 and safe):
        after = error.retry_after
        if after is None:
            return backoff(attempt)
        return after if after <= options.max_retry_wait else None
    return None


def job_id_of(job: Job | str) -> str:
    return job.id if isinstance(job, Job) else str(job)


def is_event_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


class Waiting:
    """One wait(): its deadline, the last event seen, and the progress callback."""

    def __init__(self, job_id: str, on_progress: ProgressCallback | None, timeout: float | None) -> None:
        self.job_id = job_id
        self.on_progress = on_progress
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.last_event_id: str | None = None
        self.last: Job | None = None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            state = f" (last seen {self.last.status}, {self.last.progress:.0%})" if self.last else ""
            raise WaitTimeout(f"Job {self.job_id} did not finish in time{state}", self.last)

    def pause(self, seconds: float) -> float:
        """How long to sleep: `seconds`, cut short by the deadline (checked first)."""
        self.check()
        left = self.remaining()
        return seconds if left is None else max(0.0, min(seconds, left))

    def read_timeout(self) -> float:
        left = self.remaining()
        return STREAM_READ_TIMEOUT if left is None else max(0.1, min(STREAM_READ_TIMEOUT, left + 0.5))

    def changed(self, job: Job) -> bool:
        """Whether `job` differs from the last state seen (then it becomes the last)."""
        if self.last is not None and self.last.raw == job.raw:
            return False
        self.last = job
        return True


def event_job(data: str) -> Job:
    parsed: Mapping[str, Any] = json.loads(data)
    return Job.from_json(dict(parsed))
