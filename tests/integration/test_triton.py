"""The models on a real Triton Inference Server (the `tritonserver` 2.51 of the nvidia-pytriton
wheel, started by `TritonServer` on loopback): answers equal to in-process ONNX Runtime's, a job
through proxy -> job service -> worker -> Triton, and Triton dying under a job.

Triton's own counters are read with `tritonclient` here, independently of the backend under test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as triton_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stacks import QuietFiles, job_ended, serving_folder
from waiting import wait_until_async

from protos.lipsync.v1 import inference_pb2, inference_pb2_grpc, jobs_pb2
from proxy.app import create_app
from services.core import billing
from services.core.settings import Secret, Settings
from services.devtools import samples
from services.devtools.redis_server import RedisServer, free_port
from services.devtools.triton_server import SHARED_MEMORY, TritonServer
from services.engine.engine_errors import ModelError
from services.engine.media import av_io as media
from services.engine.mouth import phone_posteriors
from services.engine.mouth.mouth_model import WINDOW
from services.engine.mouth.onnx_backend import OnnxBackend
from services.engine.render import renderer as render
from services.inference.backends.triton import Retries, TritonMouthModel
from services.inference.pipeline import JobPipeline, model_server_down_message
from services.inference.server import INFERENCE_SERVICE, create_server, serve_inference
from services.inference.shapes import speech_shapes
from services.inference.worker import Worker
from services.jobs.server import create_server as create_jobs_server
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore, Status
from services.store.queue import JobQueue

pytestmark = pytest.mark.slow
CREDITS = 1000
BASE = "http://testserver"


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """One server for the module's tests that leave it running."""
    with TritonServer(log_file=tmp_path_factory.mktemp("triton") / "tritonserver.log") as server:
        yield server


@pytest.fixture
def doomed_triton(tmp_path: Path) -> Iterator[TritonServer]:
    """A server of the test's own, to kill."""
    with TritonServer(log_file=tmp_path / "tritonserver.log") as server:
        yield server


@dataclass
class Inputs:
    folder: Path
    base: str
    gate: threading.Event  # files under /slow/ are served once it is set

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def seconds(self, name: str) -> float:
        return media.load_audio(self.folder / name, 16_000).size / 16_000


class _Handler(QuietFiles):
    gate: threading.Event

    def do_GET(self) -> None:
        if self.path.startswith("/slow/"):
            self.gate.wait(30)
            self.path = self.path[len("/slow"):]
        super().do_GET()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inputs]:
    folder = tmp_path_factory.mktemp("inputs")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    samples.save_speech(folder / "speech.wav", "Mop the bump, Bob. Peter Piper picked a peck of peppers.")
    gate = threading.Event()
    with serving_folder(folder, type("Gated", (_Handler,), {"gate": gate})) as base:
        try:
            yield Inputs(folder, base, gate)
        finally:
            gate.set()


async def triton_counts(triton: TritonServer) -> tuple[int, int]:
    """(inference_count, execution_count) of mouth_shapes, from Triton itself."""
    async with triton_grpc.InferenceServerClient(triton.grpc_address) as client:
        stats: dict[str, Any] = await client.get_inference_statistics("mouth_shapes", as_json=True)
    (model,) = stats["model_stats"]
    return int(model.get("inference_count", 0)), int(model.get("execution_count", 0))


def _features(batch: int, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, frames, phone_posteriors.N_FEATURES)) * 3 - 3).astype(np.float32)


# -- the model ---------------------------------------------------------------------------------

async def test_triton_answers_as_onnx_runtime_in_process(triton: TritonServer, inputs: Inputs) -> None:
    local = OnnxBackend()
    model = TritonMouthModel(triton.grpc_address)
    try:
        assert await model.ready()
        for batch, frames in ((1, WINDOW), (8, WINDOW), (32, WINDOW), (1, 400), (3, 1004)):
            x = _features(batch, frames, seed=batch + frames)
            shapes, logits = await model.infer(x)
            want_shapes, want_logits = local.infer(x)
            assert shapes.shape == (batch, frames // 4, 3) and logits.shape == want_logits.shape
            np.testing.assert_allclose(shapes, want_shapes, rtol=0, atol=1e-5)
            np.testing.assert_allclose(logits, want_logits, rtol=0, atol=1e-5)

        # Requests sent at once are merged by Triton's dynamic batcher; each still gets its own.
        before = await triton_counts(triton)
        batches = [_features(2, WINDOW, seed=100 + i) for i in range(6)]
        answers = await asyncio.gather(*(model.infer(m) for m in batches))
        for x, (shapes, _) in zip(batches, answers, strict=True):
            np.testing.assert_allclose(shapes, local.infer(x)[0], rtol=0, atol=1e-5)
        after = await triton_counts(triton)
        assert after[0] - before[0] == 12  # windows
        assert 1 <= after[1] - before[1] <= 6  # model executions: batched where they met

        # The whole path of a render: speech -> windows -> Triton -> render-ready shapes.
        speech = media.load_audio(inputs.folder / "speech.wav", media.OUTPUT_AUDIO_RATE)
        frames = round(speech.size / media.OUTPUT_AUDIO_RATE * media.FPS)
        np.testing.assert_allclose(await speech_shapes(model, speech),
                                   render.model_shapes(speech, frames), rtol=0, atol=1e-5)
    finally:
        await model.close()


async def test_a_request_triton_refuses_is_a_model_error_not_retried(
        triton: TritonServer, caplog: pytest.LogCaptureFixture) -> None:
    model = TritonMouthModel(triton.grpc_address, retries=Retries(tries=3, first_pause=5))
    try:
        with pytest.raises(ModelError, match="multiple of 4 frames, got 862"):
            await model.infer(_features(1, 862, seed=0))
        assert not _retries(caplog)  # no pauses: a refusal is not an outage
        unknown = TritonMouthModel(triton.grpc_address, model="nope")
        with pytest.raises(ModelError, match="unknown model: 'nope'"):
            await unknown.infer(_features(1, 400, seed=0))
        await unknown.close()
    finally:
        await model.close()


# -- jobs --------------------------------------------------------------------------------------

@dataclass
class RestStack:
    settings: Settings
    client: httpx.AsyncClient
    headers: dict[str, str]
    account: str

    async def submit(self, form: dict[str, Any]) -> str:
        reply = await self.client.post("/api/v1/lipsync-image", headers=self.headers,
                                       json={"formState": {"resolution": "480p", **form}})
        assert reply.status_code == 200, reply.text
        return str(reply.json()["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        reply = await self.client.get(f"/api/v1/jobs/{job_id}", headers=self.headers)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body


@pytest.fixture
async def rest(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[RestStack]:
    """The job service on a loopback port and the proxy app in front of it (no worker)."""
    settings = Settings(redis_url=redis_server.url, public_url=BASE, data_dir=tmp_path / "data",
                        signing_key=Secret("test-signing-key"), allow_private_urls=True,
                        allow_http_webhooks=True, inference_addr=f"127.0.0.1:{free_port()}")
    server, port = create_jobs_server("127.0.0.1:0", settings, redis)
    await server.start()
    settings = settings.with_(jobs_addr=f"127.0.0.1:{port}")
    app = create_app(settings)
    key = await AccountStore(redis).create_key("triton tests", CREDITS)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app), base_url=BASE) as client:
            yield RestStack(settings, client, {"Authorization": f"Bearer {key.api_key}"}, key.account_id)
    finally:
        await server.stop(None)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health_is(settings: Settings, status: int) -> bool:
    """Does the inference service's health check answer `status`?"""
    async with grpc.aio.insecure_channel(settings.inference_addr) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=INFERENCE_SERVICE), timeout=1)
        except grpc.aio.AioRpcError:
            return False
    return bool(answer.status == status)


async def test_a_rest_job_renders_on_triton(rest: RestStack, redis: RedisClient, triton: TritonServer,
                                            inputs: Inputs) -> None:
    """proxy -> job service -> worker (the inference process's, on Triton) -> video."""
    settings = rest.settings.with_(triton_url=triton.grpc_address)
    before = await triton_counts(triton)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_inference(settings, stop, grace=5))
    try:
        await wait_until_async(lambda: _health_is(settings, SERVING), timeout=10, what="SERVING")
        job_id = await rest.submit({"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")})
        job = await wait_until_async(lambda: rest.job(job_id), until=lambda j: j["status"] != "processing",
                                     timeout=60, interval=0.1, what=f"job {job_id} to end")
    finally:
        stop.set()
        await asyncio.wait_for(serving, 20)
    assert job["status"] == "completed", job["error"]
    assert job["timings"]["inference"] >= 0
    video = await rest.client.get(job["output"])
    assert video.status_code == 200
    (rest.settings.data_dir / "got.mp4").write_bytes(video.content)
    info = media.probe_video(rest.settings.data_dir / "got.mp4")
    assert info.seconds == pytest.approx(inputs.seconds("speech.wav"), abs=0.1)
    after = await triton_counts(triton)
    assert after[0] > before[0] and after[1] > before[1]  # Triton ran the job's windows
    cost = billing.cost(inputs.seconds("speech.wav"), "480p")
    assert await AccountStore(redis).credits(rest.account) == CREDITS - cost


async def test_triton_killed_mid_job_then_back_the_job_completes(
        rest: RestStack, redis: RedisClient, doomed_triton: TritonServer, inputs: Inputs,
        caplog: pytest.LogCaptureFixture) -> None:
    """Triton dies while the job waits for its input; readiness drops; Triton comes back on the
    same address; the job's retries (or a later attempt) find it and the job completes once."""
    settings = rest.settings.with_(triton_url=doomed_triton.grpc_address, claim_idle_seconds=1.0)
    stop = asyncio.Event()
    inputs.gate.clear()
    serving = asyncio.create_task(serve_inference(settings, stop, grace=5))
    try:
        await wait_until_async(lambda: _health_is(settings, SERVING), timeout=10, what="SERVING")
        job_id = await rest.submit({"image": inputs.url("face.png"), "audio": inputs.url("slow/speech.wav")})
        await wait_until_async(lambda: _attempts_at_least(redis, job_id, 1), timeout=10,
                               what="the job to be taken by the worker")

        doomed_triton.kill()
        await wait_until_async(lambda: _health_is(settings, NOT_SERVING), timeout=10,
                               what="NOT_SERVING after Triton died")
        inputs.gate.set()  # the job goes on, and finds no Triton
        # Its first call to Triton went unanswered and is being retried; the job did not fail.
        await wait_until_async(lambda: _retries(caplog), timeout=30, what="a retried call to Triton")
        assert (await rest.job(job_id))["status"] == "processing"
        doomed_triton.start()
        record = await job_ended(redis, job_id, timeout=60)
        await wait_until_async(lambda: _health_is(settings, SERVING), timeout=10, what="SERVING again")
    finally:
        inputs.gate.set()
        stop.set()
        await asyncio.wait_for(serving, 20)
    assert record.status == Status.COMPLETED, record.error
    assert record.attempts in (1, 2)  # retried within the attempt, or once more after it
    assert (await triton_counts(doomed_triton))[0] >= 1  # the restarted server ran it
    cost = billing.cost(inputs.seconds("speech.wav"), "480p")
    assert record.credits == cost
    assert await AccountStore(redis).credits(rest.account) == CREDITS - cost
    assert await JobQueue(redis).depth() == (0, 0)


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings a Triton client logs before pausing to try an unanswered call again."""
    return [r.getMessage() for r in caplog.records if "; retrying in" in r.getMessage()]


async def _attempts_at_least(redis: RedisClient, job_id: str, n: int) -> bool:
    return (await JobStore(redis).get(job_id)).attempts >= n


async def test_triton_staying_down_fails_the_job_clearly_and_refunds(
        rest: RestStack, redis: RedisClient, doomed_triton: TritonServer, inputs: Inputs) -> None:
    settings = rest.settings.with_(triton_url=doomed_triton.grpc_address, max_attempts=2,
                                   claim_idle_seconds=0.5)
    doomed_triton.kill()
    assert not list(SHARED_MEMORY.glob(f"{doomed_triton.shm_prefix}*"))  # nothing left behind
    quick = TritonMouthModel(doomed_triton.grpc_address, retries=Retries(tries=2, first_pause=0.1))
    worker = Worker(settings, redis, "triton-down",
                    JobPipeline(settings, JobStore(redis), quick))
    running = asyncio.create_task(worker.run())
    try:
        job_id = await rest.submit({"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")})
        record = await job_ended(redis, job_id, timeout=30)
    finally:
        await worker.stop(grace=5)
        await running
        await quick.close()
    assert (record.status, record.error) == (Status.FAILED, model_server_down_message(2))
    assert record.attempts == 2 and record.credits == 0
    assert await AccountStore(redis).credits(rest.account) == CREDITS
    job = await rest.job(job_id)
    assert (job["status"], job["error"]) == ("failed", model_server_down_message(2))
    assert await JobQueue(redis).depth() == (0, 0)


async def test_the_direct_render_rpc_runs_on_triton_or_answers_unavailable(
        triton: TritonServer, inputs: Inputs, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", allow_private_urls=True)
    up = TritonMouthModel(triton.grpc_address)
    down = TritonMouthModel(f"127.0.0.1:{free_port()}", retries=Retries(tries=2, first_pause=0.1))
    request = inference_pb2.RenderRequest(image=jobs_pb2.LipsyncImageForm(
        image=inputs.url("face.png"), audio=inputs.url("speech.wav"), seed=3))
    before = await triton_counts(triton)
    for model in (up, down):
        server, port = create_server("127.0.0.1:0", settings, model)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = inference_pb2_grpc.InferenceServiceStub(channel)
                if model is up:
                    events = [event async for event in stub.Render(request)]
                    assert events[-1].result.last and "inference" in events[-1].result.timings
                else:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        _ = [event async for event in stub.Render(request)]
                    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                    assert "did not answer after 2 tries" in (refused.value.details() or "")
        finally:
            await server.stop(0)
            await model.close()
    assert (await triton_counts(triton))[0] > before[0]
