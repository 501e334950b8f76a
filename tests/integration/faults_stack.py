"""Helpers for the fault tests: a webhook receiver on loopback, and a synchronous client of a
`ProcessStack` (keys, uploads, submits, job reads straight from Redis)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from stacks import new_keys
from waiting import wait_until

from services.devtools import samples
from services.devtools.process_stack import ProcessStack
from services.store import keys
from services.store.accounts import NewKey

# Every limit off: the fault tests load one stack hard and on purpose.
NO_LIMITS = {"LIPSYNC_RATE_LIMIT_SUBMIT_PER_MINUTE": "0", "LIPSYNC_RATE_LIMIT_READ_PER_MINUTE": "0",
             "LIPSYNC_MAX_CONCURRENT_JOBS": "0"}
LOCAL = {"LIPSYNC_ALLOW_PRIVATE_URLS": "1", "LIPSYNC_ALLOW_HTTP_WEBHOOKS": "1"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class WebhookReceiver:
    """Answers `status` (a settable attribute) to every POST and records it."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self) -> dict[str, dict[str, Any]]:
        """job id -> the job JSON of its first 2xx-answered delivery."""
        with self.lock:
            found: dict[str, dict[str, Any]] = {}
            for r in self.requests:
                if 200 <= r.answered < 300:
                    job = json.loads(r.body)
                    found.setdefault(job["id"], job)
            return found

    def answered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.answered < 300]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                status = state.status
                state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                               body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class StackClient:
    """The REST API of a running `ProcessStack`, and its Redis read directly for what a test
    must check beyond the API (attempts, events, credits)."""

    def __init__(self, stack: ProcessStack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.base_url, timeout=30)
        self.redis = redis.Redis.from_url(stack.redis_url, decode_responses=True)

    def close(self) -> None:
        self.http.close()
        self.redis.close()

    def new_keys(self, n: int, credits: int = 1000) -> list[NewKey]:
        return new_keys(self.stack.redis_url, n, credits, "faults")

    def upload(self, key: NewKey, path: Path) -> str:
        reply = self.http.post("/api/v1/files", content=path.read_bytes(), headers=auth(key))
        assert reply.status_code == 200, reply.text
        return str(reply.json()["url"])

    def submit(self, key: NewKey, form: dict[str, Any], webhook: str = "") -> httpx.Response:
        body: dict[str, Any] = {"formState": form}
        if webhook:
            body["webhook"] = webhook
        return self.http.post("/api/v1/lipsync-image", json=body, headers=auth(key))

    def job(self, job_id: str) -> dict[str, str]:
        return self.redis.hgetall(keys.job(job_id))  # type: ignore[return-value]

    def wait_all_ended(self, job_ids: list[str], timeout: float) -> dict[str, dict[str, str]]:
        def still_open() -> dict[str, dict[str, str]]:
            jobs = {job_id: self.job(job_id) for job_id in job_ids}
            return {j: h for j, h in jobs.items() if h.get("status") == "processing"}

        wait_until(still_open, until=lambda open_: not open_, timeout=timeout, interval=0.2,
                   what=f"all {len(job_ids)} jobs to end (last seen: those still processing)")
        return {job_id: self.job(job_id) for job_id in job_ids}

    def events(self) -> list[dict[str, str]]:
        return [fields for _, fields in self.redis.xrange(keys.JOB_EVENTS)]  # type: ignore[union-attr]

    def credits(self, account_id: str) -> int:
        return int(self.redis.hget(keys.account(account_id), "credits") or -1)  # type: ignore[arg-type]


def auth(key: NewKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


def make_inputs(folder: Path, words: str = "Hello Bob. Mop the bump.") -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    face = samples.save_image(folder / "face.png", samples.grace_hopper())
    samples.save_speech(folder / "speech.wav", words)
    return {"image": face, "audio": folder / "speech.wav"}


def speech_seconds(path: Path) -> float:
    from services.engine.media import av_io as media

    return media.load_audio(path, 16_000).size / 16_000
