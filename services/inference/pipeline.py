"""One job, start to end: fetch -> measure and settle credits -> render -> store -> complete.

Jobs run at least once (a worker that dies leaves its queue entry to another), so each step is
safe to repeat: the seed is recorded before rendering and a retry reuses it, settling reserves
only what is not reserved yet, the output's key is the job's id, and a job completes once.

What ends a job:
- the user's input is unusable (`InputError`: unreachable URL, not a video, no face...), or the
  account cannot pay: failed with the engine's message, credits refunded, no retry;
- a bug: logged, and failed with `INTERNAL_ERROR` (retrying a bug would only loop);
- the job ended elsewhere meanwhile (canceled): nothing more is done.
What leaves a job to another attempt: the store being unreachable (`RedisError`), the worker
stopping (`RenderAborted`), or the model server (Triton) not answering even after its client's
retries (`ModelServerUnavailable`); `Settings.max_attempts` bounds how often that can happen.
A model server still down on the last attempt fails the job with a message saying so, refunded:
a job waits out an outage of a few minutes (attempts x `claim_idle_seconds`), never forever.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from enum import StrEnum
from pathlib import Path

from redis.exceptions import RedisError

from services.core import billing, logs, metrics
from services.core.errors import Conflict, InsufficientCredits, ModelServerUnavailable, NotFound
from services.core.settings import Settings
from services.engine.engine_errors import InputError
from services.engine.render.renderer import StageTimer, resolve_seed
from services.inference.forms import RenderForm
from services.inference.inputs import limits_for, output_seconds
from services.inference.orchestration import RenderRunner
from services.inference.progress import ProgressRelay, RenderAborted
from services.inference.rendering import applied_style, frame_generator
from services.inference.shapes import AsyncMouthModel, remote_model
from services.storage.links import storage_for
from services.store.jobs import JobRecord, JobStore, Status

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal error while rendering; the job was not charged"
PROGRESS_CAP = 0.99  # 1.0 is for a completed job: storing the output still lies ahead


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"  # already ended, unknown, or ended elsewhere while this attempt ran


def output_key(job_id: str) -> str:
    return f"outputs/{job_id}.mp4"


def gave_up_message(attempts: int) -> str:
    return f"The job failed {attempts} times while rendering and was stopped"


def model_server_down_message(attempts: int) -> str:
    return (f"The model server was unavailable on each of {attempts} attempts; "
            "the job was not charged")


class JobPipeline:
    """`model`: where the mouth model runs; by default the settings' Triton, or in-process.
    The settings may also select an operator's generator for video and image forms."""

    def __init__(self, settings: Settings, jobs: JobStore, model: AsyncMouthModel | None = None) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage_for(settings)
        self._owns_model = model is None
        self.model = remote_model(settings) if model is None else model
        self.runner = RenderRunner(settings, limits_for(settings), self.model, frame_generator(settings))

    async def close(self) -> None:
        if self._owns_model and self.model is not None:
            await self.model.close()

    async def run(self, job_id: str, stopping: threading.Event) -> Outcome:
        """`attempt`, with the job's id on every log line and its end in the metrics."""
        token = logs.job_id.set(job_id)
        try:
            outcome = await self.attempt(job_id, stopping)
            if outcome in (Outcome.COMPLETED, Outcome.FAILED):
                await self._record_end(job_id, outcome)
            return outcome
        finally:
            logs.job_id.reset(token)

    async def _record_end(self, job_id: str, outcome: Outcome) -> None:
        job = await self.jobs.get(job_id)
        metrics.jobs_finished.labels(job.model, outcome.value).inc()
        if job.execution_ms is not None:
            metrics.job_duration.labels(job.model, outcome.value).observe(job.execution_ms / 1000)
        for stage, ms in (job.timings or {}).items() if outcome == Outcome.COMPLETED else ():
            metrics.stage_duration.labels(stage).observe(ms / 1000)
        if outcome == Outcome.COMPLETED:
            log.info("job completed", extra={"model": job.model})
        else:
            log.info("job failed: %s", job.error)

    async def attempt(self, job_id: str, stopping: threading.Event) -> Outcome:
        """Take the job one attempt further. Raises `RenderAborted` when `stopping` cut the
        render short, `RedisError` when the store is unreachable and `ModelServerUnavailable`
        when the model server is (before the last attempt): the job stays open."""
        try:
            job = await self.jobs.get(job_id)
        except NotFound:
            log.warning("dropping the queue entry of unknown job %s", job_id)
            return Outcome.SKIPPED
        if job.status != Status.PROCESSING:
            return Outcome.SKIPPED
        attempt = await self.jobs.begin_attempt(job.id)
        if attempt > self.settings.max_attempts:
            await self.jobs.fail(job, gave_up_message(self.settings.max_attempts))
            return Outcome.FAILED
        started = time.monotonic()
        try:
            return await self._attempt(job, started, stopping)
        except (InputError, InsufficientCredits) as exc:
            message = exc.message if isinstance(exc, InsufficientCredits) else str(exc)
            await self.jobs.fail(job, message, _ms_since(started))
            return Outcome.FAILED
        except Conflict:
            return Outcome.SKIPPED
        except ModelServerUnavailable:
            if attempt < self.settings.max_attempts:
                raise  # left for another attempt, once the server may be back
            await self.jobs.fail(job, model_server_down_message(attempt), _ms_since(started))
            return Outcome.FAILED
        except (RenderAborted, RedisError):
            raise
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            await self.jobs.fail(job, INTERNAL_ERROR, _ms_since(started))
            return Outcome.FAILED

    async def _attempt(self, job: JobRecord, started: float, stopping: threading.Event) -> Outcome:
        form = RenderForm.from_job(job)

        async def settle_and_seed(paths: dict[str, Path]) -> int:
            seconds = await asyncio.to_thread(output_seconds, form, paths, self.runner.limits)
            await self.jobs.settle(job, billing.cost(seconds, form.resolution), seconds)
            seed = resolve_seed(form.seed)
            # Shown on the job while it renders: what its prompt does (only when it has one).
            style = applied_style(form, self.runner.generator).as_dict() if form.prompt.strip() else None
            await self.jobs.set_seed(job.id, seed, style)
            return seed

        watcher = _JobWatcher(self.jobs, job.id)
        relay = ProgressRelay(asyncio.get_running_loop(), watcher.report,
                              should_stop=lambda: stopping.is_set() or watcher.ended)
        with self.runner.work_dir(f"{job.id}-") as tmp:
            try:
                rendered = await self.runner.render(form, tmp, settle_and_seed, relay)
            except RenderAborted:
                if watcher.ended:
                    raise Conflict("The job ended while it was rendering") from None
                raise
            finally:
                await watcher.drain()  # no progress write may land after the job completes
            timer = StageTimer(rendered.timings)
            with timer.stage("upload"):
                key = await asyncio.to_thread(self.storage.put_file, output_key(job.id), rendered.path)
        if await self.jobs.complete(job, key, _ms_since(started), timer.ms):
            return Outcome.COMPLETED
        # Ended elsewhere meanwhile. A canceled job keeps no output; a job another worker
        # completed keeps the (identical: same seed) file under the same key.
        if (await self.jobs.get(job.id)).status == Status.FAILED:
            await asyncio.to_thread(self.storage.delete, key)
        return Outcome.SKIPPED


class _JobWatcher:
    """Writes render progress to the job and notices when the job ends meanwhile (canceled),
    so the render can stop instead of finishing work nobody wants."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.ended = False
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, fraction: float, stage: str) -> None:
        """Runs on the event loop (see ProgressRelay)."""
        task = asyncio.get_running_loop().create_task(self._write(fraction))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, fraction: float) -> None:
        try:
            if (await self.jobs.get(self.job_id)).status != Status.PROCESSING:
                self.ended = True
                return
            await self.jobs.set_progress(self.job_id, min(fraction, PROGRESS_CAP))
        except (RedisError, NotFound) as exc:
            log.warning("job %s: progress not recorded: %s", self.job_id, exc)

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
