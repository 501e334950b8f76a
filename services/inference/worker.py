"""The queue worker: takes jobs from the Redis stream and runs each through the pipeline.

Each loop it first takes over entries other workers left idle longer than
`Settings.claim_idle_seconds` (their worker died), then reads new ones; up to
`Settings.worker_concurrency` jobs run at once. While a job runs, its entry is touched every few
seconds (heartbeat) so no other worker takes it over. An entry is acknowledged once its job has
ended, and only then: a worker that dies, or stops before its jobs finish, leaves them pending
for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from redis.exceptions import RedisError

from services.core import metrics
from services.core.errors import ModelServerUnavailable
from services.core.settings import Settings
from services.inference.pipeline import JobPipeline
from services.inference.progress import RenderAborted
from services.store.connection import RedisClient
from services.store.jobs import JobStore
from services.store.queue import Entry, JobQueue

DEPTH_EVERY_SECONDS = 5.0

log = logging.getLogger(__name__)

READ_BLOCK_MS = 500  # how long a read waits for work; also how soon a stop is noticed
RETRY_PAUSE = 1.0  # after the store failed to answer


class Worker:
    def __init__(self, settings: Settings, redis: RedisClient, consumer_name: str,
                 pipeline: JobPipeline | None = None) -> None:
        self.settings = settings
        self.consumer = consumer_name
        self.queue = JobQueue(redis)
        self.pipeline = pipeline or JobPipeline(settings, JobStore(redis))
        self._stopping = asyncio.Event()
        self._abort = threading.Event()  # read by render threads: stop at the next frame batch
        self._loop_ended = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._depth_reported = 0.0
        self._running = False

    @property
    def heartbeat_interval(self) -> float:
        # Three beats per idle period: one late beat never lets another worker take the job.
        return min(5.0, self.settings.claim_idle_seconds / 3)

    async def run(self) -> None:
        """Work until `stop()`; returns once every job this worker took has ended or been left."""
        self._running = True
        try:
            await self.queue.ensure_group()
            while not self._stopping.is_set():
                try:
                    await self._fill_slots()
                except RedisError as exc:
                    log.warning("worker %s: queue unreachable (%s); retrying", self.consumer, exc)
                    await self._pause(RETRY_PAUSE)
        finally:
            self._loop_ended.set()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.pipeline.close()

    async def stop(self, grace: float) -> None:
        """Take no more work; give running jobs `grace` seconds to finish, then abort them and
        leave their entries unacknowledged for another worker."""
        deadline = time.monotonic() + grace
        self._stopping.set()
        if not self._running:
            return
        await self._loop_ended.wait()
        running = set(self._tasks)
        if running:
            _, late = await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
            if late:
                log.warning("worker %s: leaving %d unfinished job(s) to other workers",
                            self.consumer, len(late))
                self._abort.set()
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    async def _report_queue_depth(self) -> None:
        """The queue's depth for the metrics (what workers scale on), every few seconds."""
        now = time.monotonic()
        if now - self._depth_reported < DEPTH_EVERY_SECONDS:
            return
        self._depth_reported = now
        waiting, in_progress = await self.queue.depth()
        metrics.queue_waiting.set(waiting)
        metrics.queue_in_progress.set(in_progress)

    async def _fill_slots(self) -> None:
        await self._report_queue_depth()
        free = self.settings.worker_concurrency - len(self._tasks)
        if free <= 0:
            await self._wait_for_a_slot()
            return
        entries = await self.queue.reclaim(self.consumer, self.settings.claim_idle_seconds, count=free)
        if not entries:
            entries = await self.queue.read(self.consumer, count=free, block_ms=READ_BLOCK_MS)
        for entry in entries:
            task = asyncio.create_task(self._process(entry), name=f"job {entry.job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wait_for_a_slot(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({*self._tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _process(self, entry: Entry) -> None:
        beating = asyncio.create_task(self._heartbeat(entry))
        try:
            outcome = await self.pipeline.run(entry.job_id, self._abort)
            await self.queue.ack(entry.entry_id)
            log.info("job %s: %s", entry.job_id, outcome.value)
        except RenderAborted:
            log.info("job %s: stopped mid-render; left for another worker", entry.job_id)
        except ModelServerUnavailable as exc:
            log.warning("job %s: %s; left for another attempt", entry.job_id, exc.message)
        except Exception:
            # The store failed us (or worse): the entry stays pending and is taken over later.
            log.exception("job %s: left pending for another attempt", entry.job_id)
        finally:
            beating.cancel()

    async def _heartbeat(self, entry: Entry) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.queue.heartbeat(self.consumer, entry.entry_id)
            except RedisError as exc:
                log.warning("job %s: heartbeat failed: %s", entry.job_id, exc)
