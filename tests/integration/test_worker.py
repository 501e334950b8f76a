"""The queue worker and the InferenceService on a real Redis, real renders, inputs served over
loopback HTTP (so `allow_private_urls` is on), and a worker process killed mid-render."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from stacks import job_ended, serving_folder
from waiting import wait_until, wait_until_async

from protos.lipsync.v1 import inference_pb2, inference_pb2_grpc, jobs_pb2
from services.core import billing
from services.core.settings import Settings
from services.devtools import samples
from services.engine.media import av_io as media
from services.engine.media import speech
from services.inference.server import create_server
from services.inference.worker import Worker
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobRecord, JobStore, Status
from services.store.queue import Entry, JobQueue

pytestmark = pytest.mark.slow
CREDITS = 1000


@dataclass(frozen=True)
class Inputs:
    folder: Path
    base: str  # loopback URL serving `folder`

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def seconds(self, name: str) -> float:
        return media.load_audio(self.folder / name, 16_000).size / 16_000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inputs]:
    folder = tmp_path_factory.mktemp("inputs")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    ramp = np.linspace(40, 220, 640, dtype=np.float32)
    samples.save_image(folder / "wall.png", np.repeat(np.tile(ramp, (480, 1))[..., None], 3, 2)
                       .astype(np.uint8))
    said = samples.save_speech(folder / "speech.wav", "Mop the bump, Bob. The quick brown fox "
                               "jumps over the lazy dog. Peter Piper picked a peck of peppers.")
    # About 25 s: long enough to be caught mid-render.
    speech.save_wav(folder / "long.wav", np.tile(said.audio, 3), said.sample_rate)
    with serving_folder(folder) as base:
        yield Inputs(folder, base)


@pytest.fixture
async def account(redis: RedisClient) -> str:
    return (await AccountStore(redis).create_key("worker tests", credits=CREDITS)).account_id


async def submit(redis: RedisClient, account: str, form: dict[str, object],
                 model: str = "lipsync-image") -> JobRecord:
    return await JobStore(redis).submit(account, model, {"resolution": "480p", **form}, "", "480p",
                                        None, reserve=billing.minimum_cost("480p"))


@asynccontextmanager
async def running(settings: Settings, redis: RedisClient, name: str = "test-worker") -> AsyncIterator[Worker]:
    worker = Worker(settings, redis, name)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop(grace=10)
        await task


async def credits(redis: RedisClient, account: str) -> int:
    return await AccountStore(redis).credits(account)


async def completed_events(redis: RedisClient, job_id: str) -> list[str]:
    entries = await redis.xrange(keys.JOB_EVENTS)
    return [fields["status"] for _, fields in entries if fields["job"] == job_id]


async def test_a_job_completes_and_is_charged_for_its_length(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")})
    seen: list[float] = []

    async def progress() -> JobRecord:
        record = await JobStore(redis).get(job.id)
        if record.status == Status.PROCESSING:
            seen.append(record.progress)
        return record

    async with running(settings, redis):
        record = await wait_until_async(progress, until=lambda r: r.status != Status.PROCESSING,
                                        timeout=60, what=f"job {job.id} to end")
    assert record.status == Status.COMPLETED, record.error
    assert seen == sorted(seen) and record.progress == 1.0
    output = settings.data_dir / record.output_key
    assert record.output_key == f"outputs/{job.id}.mp4" and output.is_file()
    info = media.probe_video(output)
    assert info.seconds == pytest.approx(inputs.seconds("speech.wav"), abs=0.1)
    assert record.execution_ms is not None and record.execution_ms > 0
    assert record.timings is not None
    assert {"download", "faces", "inference", "render", "encode", "upload"} <= set(record.timings)
    cost = billing.cost(inputs.seconds("speech.wav"), "480p")
    assert cost > billing.minimum_cost("480p")  # so settling really moved credits
    assert record.credits == cost
    assert await credits(redis, account) == CREDITS - cost
    assert record.seed is not None and record.attempts == 1
    assert await completed_events(redis, job.id) == ["completed"]
    assert await JobQueue(redis).depth() == (0, 0)


async def test_no_face_fails_clearly_and_refunds(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("wall.png"), "audio": inputs.url("speech.wav")})
    async with running(settings, redis):
        record = await job_ended(redis, job.id)
    assert (record.status, record.error) == (Status.FAILED, "No face found in the image")
    assert record.credits == 0 and record.output_key == ""
    assert await credits(redis, account) == CREDITS
    assert await JobQueue(redis).depth() == (0, 0)


async def test_a_missing_input_fails_clearly(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("gone.wav")})
    pair = await submit(redis, account, {"image": inputs.url("face.png"),
                                         "left_audio": inputs.url("face.png"),
                                         "right_audio": inputs.url("speech.wav")},
                        model="lipsync-image-multi")
    async with running(settings.with_(worker_concurrency=2), redis):
        record = await job_ended(redis, job.id)
        multi = await job_ended(redis, pair.id)
    assert (record.status, record.error) == (Status.FAILED, "The audio URL answered HTTP 404")
    assert multi.error == "The left_audio URL does not point to an audio file (it looks like a PNG image)"
    assert await credits(redis, account) == CREDITS


async def test_a_job_canceled_before_it_runs_is_skipped(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    jobs = JobStore(redis)
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")})
    assert await jobs.cancel(job)
    async with running(settings, redis):
        await wait_until_async(JobQueue(redis).depth, until=lambda depth: depth == (0, 0), timeout=10,
                               what="the queue to empty (the canceled job's entry acknowledged)")
    record = await jobs.get(job.id)
    assert (record.status, record.error, record.attempts) == (Status.FAILED, "Job was canceled", 0)
    assert not (settings.data_dir / "outputs").exists()
    assert await credits(redis, account) == CREDITS


async def test_a_job_that_keeps_killing_workers_is_stopped(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    """Two workers took the job and vanished without a word; the third gives up on it."""
    settings = settings.with_(max_attempts=2, claim_idle_seconds=0.2)
    jobs, queue = JobStore(redis), JobQueue(redis)
    await queue.ensure_group()
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")})
    for ghost in ("ghost-1", "ghost-2"):
        async def take(ghost: str = ghost) -> list[Entry]:
            return await queue.reclaim(ghost, 0.2) or await queue.read(ghost, block_ms=100)

        # The second ghost gets the entry once the first has held it 0.2 s without a word.
        (entry,) = await wait_until_async(take, timeout=10, what=f"{ghost} to take the job")
        assert entry.job_id == job.id
        await jobs.begin_attempt(job.id)
    async with running(settings, redis):
        record = await job_ended(redis, job.id, timeout=10)
    assert record.error == "The job failed 2 times while rendering and was stopped"
    assert record.attempts == 3
    assert await credits(redis, account) == CREDITS
    assert await queue.depth() == (0, 0)


async def test_a_killed_worker_s_job_is_taken_over_and_completed_once(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("long.wav")})
    runner = Path(__file__).with_name("worker_process.py")
    doomed = subprocess.Popen([sys.executable, str(runner), settings.redis_url, str(settings.data_dir),
                               "doomed"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    async def rendering() -> float:
        assert doomed.poll() is None, doomed.stderr.read().decode() if doomed.stderr else ""
        return (await JobStore(redis).get(job.id)).progress

    try:
        await wait_until_async(rendering, until=lambda progress: progress > 0, timeout=60, interval=0.02,
                               what="the worker process to start rendering")
        doomed.send_signal(signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait()
    midway = await JobStore(redis).get(job.id)
    assert midway.status == Status.PROCESSING and 0 < midway.progress < 1
    assert await JobQueue(redis).depth() == (0, 1)  # pending with the dead worker

    async with running(settings.with_(claim_idle_seconds=1.0), redis, "rescuer"):
        record = await job_ended(redis, job.id)
    assert record.status == Status.COMPLETED, record.error
    assert record.attempts == 2
    assert await completed_events(redis, job.id) == ["completed"]
    cost = billing.cost(inputs.seconds("long.wav"), "480p")
    assert record.credits == cost and await credits(redis, account) == CREDITS - cost
    assert media.probe_video(settings.data_dir / record.output_key).seconds == pytest.approx(
        inputs.seconds("long.wav"), abs=0.1)
    assert await JobQueue(redis).depth() == (0, 0)


async def test_the_inference_service_streams_progress_then_the_video(
        settings: Settings, inputs: Inputs, tmp_path: Path) -> None:
    server, port = create_server("127.0.0.1:0", settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            request = inference_pb2.RenderRequest(image=jobs_pb2.LipsyncImageForm(
                image=inputs.url("face.png"), audio=inputs.url("speech.wav"), seed=7))
            events = [event async for event in stub.Render(request)]
            kinds = [event.WhichOneof("event") for event in events]
            assert kinds[0] == "progress" and kinds[-1] == "result"
            assert kinds == sorted(kinds, key=lambda k: k == "result")  # progress, then the file
            fractions = [e.progress.fraction for e in events if e.HasField("progress")]
            assert fractions == sorted(fractions) and fractions[-1] == 1.0
            results = [e.result for e in events if e.HasField("result")]
            assert [r.last for r in results] == [False] * (len(results) - 1) + [True]
            assert all(len(r.mp4_chunk) == 1 << 20 for r in results[:-1])
            last = results[-1]
            assert last.seed == 7 and last.execution_time > 0
            assert {"download", "render", "encode"} <= set(last.timings.keys())
            video = tmp_path / "direct.mp4"
            video.write_bytes(b"".join(r.mp4_chunk for r in results))
            assert media.probe_video(video).seconds == pytest.approx(inputs.seconds("speech.wav"), abs=0.1)

            bad = inference_pb2.RenderRequest(image=jobs_pb2.LipsyncImageForm(
                image=inputs.url("wall.png"), audio=inputs.url("speech.wav")))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                _ = [event async for event in stub.Render(bad)]
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == "No face found in the image"
            with pytest.raises(grpc.aio.AioRpcError) as empty:
                _ = [event async for event in stub.Render(inference_pb2.RenderRequest())]
            assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(0)


async def test_a_bug_fails_the_job_once_instead_of_looping(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("speech.wav")},
                       model="lipsync-unheard-of")  # the pipeline has no render for it
    async with running(settings, redis):
        record = await job_ended(redis, job.id, timeout=10)
    assert record.error == "Internal error while rendering; the job was not charged"
    assert record.attempts == 1 and await credits(redis, account) == CREDITS
    assert await JobQueue(redis).depth() == (0, 0)


async def test_stopping_mid_render_leaves_the_job_to_another_worker(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    job = await submit(redis, account, {"image": inputs.url("face.png"), "audio": inputs.url("long.wav")})
    worker = Worker(settings, redis, "leaving")
    task = asyncio.create_task(worker.run())
    await wait_until_async(lambda: JobStore(redis).get(job.id), until=lambda r: r.progress > 0,
                           timeout=30, interval=0.02, what="the worker to start rendering")
    assert _rendering_threads()
    await worker.stop(grace=0.1)
    await task
    # The render thread stopped too, at its next report (stop() only cancels the task awaiting it).
    wait_until(lambda: not _rendering_threads(), timeout=30, what="the render thread to stop")
    record = await JobStore(redis).get(job.id)
    assert record.status == Status.PROCESSING and record.attempts == 1
    assert await JobQueue(redis).depth() == (0, 1)  # unacknowledged: the next worker takes it
    assert not (settings.data_dir / "outputs").exists()


def _rendering_threads() -> list[int]:
    """Threads now inside the engine's render (`render_form`), by their stack."""
    return [ident for ident, frame in sys._current_frames().items()
            if any(f.f_code.co_name == "render_form" for f, _ in traceback.walk_stack(frame))]


def test_results_stream_in_one_mebibyte_chunks(tmp_path: Path) -> None:
    from services.inference.servicer import CHUNK_BYTES, result_events

    data = np.random.default_rng(0).integers(0, 256, int(2.5 * CHUNK_BYTES), np.uint8).tobytes()
    (tmp_path / "out.mp4").write_bytes(data)
    events = list(result_events(tmp_path / "out.mp4", 1234, {"render": 10.4}, 99))
    sizes = [len(e.result.mp4_chunk) for e in events]
    assert sizes == [CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES // 2]
    assert [e.result.last for e in events] == [False, False, True]
    assert b"".join(e.result.mp4_chunk for e in events) == data
    assert (events[-1].result.execution_time, events[-1].result.seed) == (1234, 99)
    assert dict(events[-1].result.timings) == {"render": 10.0}


async def test_serve_inference_runs_the_worker_and_the_service_until_told_to_stop(
        redis: RedisClient, settings: Settings, account: str, inputs: Inputs) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.devtools.redis_server import free_port
    from services.inference.server import INFERENCE_SERVICE, serve_inference

    settings = settings.with_(inference_addr=f"127.0.0.1:{free_port()}")
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_inference(settings, stop, grace=5))
    job = await submit(redis, account, {"image": inputs.url("wall.png"), "audio": inputs.url("speech.wav")})
    try:
        assert (await job_ended(redis, job.id, timeout=20)).error == "No face found in the image"
        async with grpc.aio.insecure_channel(settings.inference_addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(health_pb2.HealthCheckRequest(service=INFERENCE_SERVICE))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        stop.set()
        await asyncio.wait_for(serving, 10)
