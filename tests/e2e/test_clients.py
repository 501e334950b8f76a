"""The Python SDK (clients/python, `lipsync_client`) and the command-line client against the real
stack: the production processes on loopback (`ProcessStack`: Redis, job service, one inference
worker, the webhook role, the proxy), real renders, a real webhook receiver."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
from lipsync_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InsufficientCredits,
    InvalidRequest,
    InvalidSignature,
    Job,
    NotFound,
    RateLimited,
    verify_webhook,
)
from stacks import new_keys

from services.devtools import samples
from services.devtools.demo_stack import WebhookReceiver
from services.devtools.process_stack import ProcessStack
from services.store.accounts import NewKey

pytestmark = pytest.mark.slow
SUBMITS_PER_MINUTE = 30  # each key's submit budget here: a spent one is a 429 within a second or two
ENV = {"LIPSYNC_ALLOW_PRIVATE_URLS": "1", "LIPSYNC_ALLOW_HTTP_WEBHOOKS": "1",
       "LIPSYNC_RATE_LIMIT_SUBMIT_PER_MINUTE": str(SUBMITS_PER_MINUTE)}


@dataclass
class Running:
    stack: ProcessStack
    receiver: WebhookReceiver
    face: Path
    speech: Path

    def key(self, credits: int = 1000) -> NewKey:
        (key,) = new_keys(self.stack.redis_url, 1, credits, "sdk-test")
        return key

    def client(self, key: NewKey, **options: Any) -> Client:
        return Client(base_url=self.stack.base_url, api_key=key.api_key, **options)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("clients")
    face = samples.save_image(folder / "face.png", samples.astronaut())
    speech = folder / "speech.wav"
    samples.save_speech(speech, "Hello there. Bob made a big map of the moon, and people loved it.")
    receiver = WebhookReceiver()
    try:
        with ProcessStack(folder / "stack", workers=1, env=ENV) as stack:
            yield Running(stack, receiver, Path(face), speech)
    finally:
        receiver.close()


def _same_job(a: Job, b: Job) -> None:
    """Equal as the API shows them (an output link is signed when shown: its expiry may differ)."""
    assert {**a.raw, "output": None} == {**b.raw, "output": None}
    assert (a.output or "").split("?")[0] == (b.output or "").split("?")[0]


def _is_mp4(path: Path) -> None:
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"


def test_submit_follow_download_and_verify_the_webhook(running: Running, tmp_path: Path) -> None:
    key = running.key()
    seen: list[Job] = []
    with running.client(key) as client:
        submitted = client.lipsync_image(image=running.face, audio=running.speech, seed=7,
                                         webhook=running.receiver.url)
        assert submitted.status == "processing" and submitted.model == "lipsync-image"
        job = client.wait(submitted.id, on_progress=seen.append, timeout=300)
        assert job.status == "completed", job.error
        _same_job(job, client.get_job(job.id))
        out = client.download(job, tmp_path / "out.mp4")
        assert client.account().credits < 1000  # charged
    _is_mp4(out)
    progress = [j.progress for j in seen]
    # Live: one call per change (the seed showing counts too), progress rising through 3 values or more.
    assert len(set(progress)) >= 3 and progress == sorted(progress), progress
    assert seen[-1] is job and job.progress == 1.0 and job.seed == 7
    # The webhook the service delivered verifies with the account's secret...
    assert running.receiver.arrived.wait(30)
    headers, body = running.receiver.received[-1]
    delivered = verify_webhook(body, headers, secret=key.webhook_secret)
    assert delivered.id == job.id and delivered.status == "completed"
    # ...and nothing tampered with or stale does.
    with pytest.raises(InvalidSignature):
        verify_webhook(body.replace(b"completed", b"failed"), headers, secret=key.webhook_secret)
    with pytest.raises(InvalidSignature):
        verify_webhook(body, headers, secret=key.webhook_secret, now=time.time() + 3600)
    with pytest.raises(InvalidSignature):
        verify_webhook(body, headers, secret=running.key().webhook_secret)  # another account's


def test_async_client_and_the_command_line(running: Running, tmp_path: Path) -> None:
    key = running.key()

    async def follow() -> tuple[Job, list[float]]:
        progress: list[float] = []

        async def record(job: Job) -> None:
            progress.append(job.progress)

        async with AsyncClient(base_url=running.stack.base_url, api_key=key.api_key) as client:
            job = await client.lipsync_image(image=str(running.face), audio=str(running.speech))
            done = await client.wait(job.id, on_progress=record, timeout=300)
            await client.download(done, tmp_path / "async.mp4")
            with pytest.raises(NotFound):
                await client.get_job("0b7c1f9e-5a9c-4d0e-9a7e-6f2f2b1d9c11")
            return done, progress

    done, progress = asyncio.run(follow())
    assert done.status == "completed" and progress[-1] == 1.0 and progress == sorted(progress)
    _is_mp4(tmp_path / "async.mp4")

    command = [sys.executable, "-m", "services.cli", "submit", "image", "--image", str(running.face),
               "--audio", str(running.speech), "-o", str(tmp_path / "cli.mp4"),
               "--server", running.stack.base_url, "--key", key.api_key]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(tmp_path / "cli.mp4")
    assert "completed 100%" in ran.stderr  # the progress, from the event stream
    _is_mp4(tmp_path / "cli.mp4")
    # A failure exits 1 with the API's own message.
    wrong = key.api_key[:-4] + ("AAAA" if not key.api_key.endswith("AAAA") else "BBBB")
    broke = subprocess.run([*command[:-1], wrong], capture_output=True, text=True, timeout=60)
    assert broke.returncode == 1 and broke.stderr.strip() == "lipsync: error: Invalid API key"
    failed = subprocess.run([*command[:7], "--audio", str(running.face), *command[9:]],
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert "lipsync: error: The audio URL does not point to an audio file" in failed.stderr, failed.stderr


def test_typed_errors(running: Running) -> None:
    image = "http://127.0.0.1:9/face.png"
    with running.client(running.key(), max_retries=0) as client:
        with pytest.raises(NotFound) as missing:
            client.get_job("0b7c1f9e-5a9c-4d0e-9a7e-6f2f2b1d9c11")
        assert missing.value.status == 404 and missing.value.code == "not_found"
        with pytest.raises(InvalidRequest) as bad:
            client.lipsync_image(image=image, audio=image, resolution="1080p")
        assert bad.value.field == "formState.resolution" and bad.value.status == 400
        # The submit budget is spent by refused submits too; then a 429 says when to come back.
        with pytest.raises(RateLimited) as limited:
            for _ in range(SUBMITS_PER_MINUTE + 1):
                with pytest.raises(InvalidRequest):
                    client.lipsync_image(image=image, audio=image, resolution="1080p")
        assert limited.value.status == 429 and 0 < limited.value.retry_after <= 60 / SUBMITS_PER_MINUTE + 1
        # Another account's job is not found, exactly as an unknown one.
        other = running.client(running.key())
        theirs = other.lipsync_image(image=image, audio=image)
        with pytest.raises(NotFound):
            client.get_job(theirs.id)
        with pytest.raises(NotFound):
            client.wait(theirs.id, timeout=10)
        other.close()
    with running.client(running.key(credits=0)) as poor, pytest.raises(InsufficientCredits) as short:
        poor.lipsync_image(image=image, audio=image)
    assert short.value.status == 402
    with Client(base_url=running.stack.base_url, api_key="sk_nope_nope") as stranger, \
            pytest.raises(AuthenticationError) as denied:
        stranger.account()
    assert denied.value.status == 401 and str(denied.value).startswith("Malformed API key")


def test_a_429_is_waited_out_and_a_submit_retried_makes_one_job(running: Running) -> None:
    image = "http://127.0.0.1:9/face.png"
    key = running.key()
    with running.client(key, max_retries=0) as spender, pytest.raises(RateLimited):
        for _ in range(SUBMITS_PER_MINUTE + 1):
            with pytest.raises(InvalidRequest):
                spender.lipsync_image(image=image, audio=image, resolution="1080p")
    with running.client(key) as client:
        started = time.monotonic()
        job = client.lipsync_image(image=image, audio=image, idempotency_key="one-job")
        assert time.monotonic() - started >= 0.5  # it waited for Retry-After, then went through
        again = client.lipsync_image(image=image, audio=image, idempotency_key="one-job")
        assert again.id == job.id  # the same key and request: the first job, not a second
        assert [j.id for j in client.list_jobs()] == [job.id]
        ended = client.wait(job, timeout=120)  # nothing listens on port 9: it fails, saying so
        assert ended.status == "failed" and ended.error
        with pytest.raises(InvalidRequest, match="already failed"):
            client.cancel(job.id)
