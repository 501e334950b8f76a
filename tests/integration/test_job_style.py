"""A job's prompt, end to end: submitted through the REST proxy, rendered by a real worker, and
the style it applied shown in the job object (GET /api/v1/jobs/{id})."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from live_stack import Live, serve_live
from stacks import serving_folder
from waiting import wait_until_async

from protos.lipsync.v1 import inference_pb2, inference_pb2_grpc, jobs_pb2
from services.core.settings import Secret, Settings
from services.devtools import samples
from services.devtools.redis_server import RedisServer
from services.engine.render import renderer as render
from services.inference.server import create_server
from services.inference.worker import Worker
from services.store.connection import RedisClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback URL serving face.png, speech.wav and clip.mp4 (a render of the two)."""
    folder = tmp_path_factory.mktemp("inputs")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    samples.save_speech(folder / "speech.wav", "Bob bought a map.")
    render.render_image(folder / "face.png", folder / "speech.wav", folder / "clip.mp4", seed=0)
    with serving_folder(folder) as base:
        yield base


async def _finished(live: Live, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    async def job() -> dict[str, Any]:
        found: dict[str, Any] = (await live.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        return found

    return await wait_until_async(job, until=lambda j: j["status"] != "processing", timeout=120,
                                  interval=0.1, what=f"job {job_id} to end")


async def test_a_prompt_s_style_shows_in_the_job_object(
        redis_server: RedisServer, redis: RedisClient, tmp_path: Path, inputs: str) -> None:
    async with serve_live(redis_server, redis, tmp_path, allow_private_urls=True) as live:
        settings = Settings(redis_url=redis_server.url, public_url="http://127.0.0.1", data_dir=tmp_path,
                            signing_key=Secret("k"), allow_private_urls=True)
        headers = await live.auth()
        form = {"image": f"{inputs}/face.png", "audio": f"{inputs}/speech.wav", "seed": 3}
        ids = []
        for prompt in ("笑顔で、とても表情豊かに。Purple elephants.", None):
            body = {"formState": {**form, "prompt": prompt} if prompt else form}
            reply = await live.client.post("/api/v1/lipsync-image", headers=headers, json=body)
            assert reply.status_code == 200, reply.text
            ids.append(reply.json()["id"])
        worker = Worker(settings, redis, "style-worker")
        task = asyncio.create_task(worker.run())
        try:
            styled, plain = [await _finished(live, job_id, headers) for job_id in ids]
        finally:
            await worker.stop(grace=10)
            await task
    assert styled["status"] == plain["status"] == "completed", (styled["error"], plain["error"])
    # What the prompt did, and the words that did it; the rest of it was ignored.
    assert styled["style"] == {"expressiveness": 1.45, "emotion": "smiling", "emotionStrength": 1.0,
                               "blinkRate": 1.0, "still": False, "words": ["笑顔", "とても表情豊か"]}
    assert plain["style"] is None  # no prompt, nothing to show
    assert styled["seed"] == plain["seed"] == 3


async def test_the_inference_service_returns_the_style_it_applied(
        redis_server: RedisServer, tmp_path: Path, inputs: str) -> None:
    settings = Settings(redis_url=redis_server.url, public_url="http://127.0.0.1", data_dir=tmp_path,
                        allow_private_urls=True)
    server, port = create_server("127.0.0.1:0", settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            request = inference_pb2.RenderRequest(video=jobs_pb2.LipsyncVideoForm(
                video=f"{inputs}/clip.mp4", audio=f"{inputs}/speech.wav", seed=2,
                prompt="smiling, very expressive, blink more"))
            events = [event async for event in stub.Render(request)]
    finally:
        await server.stop(None)
    last = events[-1].result
    assert last.last
    # Dubbing applies expressiveness only, and says so.
    assert last.style == jobs_pb2.JobStyle(expressiveness=1.45, emotion="neutral", emotion_strength=1.0,
                                           blink_rate=1.0, words=["very expressive"])
