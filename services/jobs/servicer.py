"""JobService: submit, read, cancel, list and watch jobs; every read scoped to the caller.

Every call is authenticated, then charged to the key's request budget (`limits.py`); submits
honour the `idempotency-key` metadata (the proxy forwards the `Idempotency-Key` header) and the
account's concurrent-jobs cap, both inside the store's one atomic submit step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc

from protos.lipsync.v1 import jobs_pb2, jobs_pb2_grpc
from services.core import billing, metrics
from services.core.errors import Conflict, InvalidArgument, NotFound
from services.core.settings import Settings
from services.jobs.auth import bearer_token
from services.jobs.limits import Budget, RequestBudgets
from services.jobs.present import job_message
from services.jobs.validation import validate
from services.store.accounts import AccountStore, check_key, parse_api_key
from services.store.connection import RedisClient
from services.store.idempotency import Fingerprint, fingerprint
from services.store.jobs import JobRecord, JobStore, Status

log = logging.getLogger(__name__)
WATCH_POLL_SECONDS = 0.25
IDEMPOTENCY_METADATA = "idempotency-key"
REPLAYED_METADATA = "idempotent-replayed"  # the answer repeats an earlier submit's
SubmitRequest = (jobs_pb2.SubmitLipsyncVideoRequest | jobs_pb2.SubmitLipsyncImageRequest
                 | jobs_pb2.SubmitLipsyncImageMultiRequest)


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.settings = settings
        self.jobs = JobStore(redis)
        self.accounts = AccountStore(redis)
        self.budgets = RequestBudgets(settings, redis)

    async def _caller(self, context: grpc.aio.ServicerContext, budget: Budget) -> str:
        """The caller's account, once its key is verified and the call charged to its budget."""
        account, _ = await self._caller_key(context, budget)
        return account

    async def _caller_key(self, context: grpc.aio.ServicerContext, budget: Budget) -> tuple[str, str]:
        """(account, key id): `_caller` for the submits, which record the key (console usage)."""
        account, key_id = await self.accounts.authenticate(bearer_token(context))
        await self.budgets.charge(context, key_id, budget)
        return account, key_id

    async def _submit(self, model: str, request: SubmitRequest,
                      context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        account, key_id = await self._caller_key(context, Budget.SUBMIT)
        valid = validate(model, request.webhook, request.HasField("form_state"), request.form_state,
                         self.settings)
        once = _idempotency(context, {"model": model, "webhook": request.webhook, "form": valid.form})
        submitted = await self.jobs.submit_once(
            account, model, valid.form, request.webhook, valid.resolution, valid.seed,
            reserve=billing.minimum_cost(valid.resolution),
            max_active=self.settings.max_concurrent_jobs, fingerprint=once, key_id=key_id)
        if submitted.replayed:
            context.set_trailing_metadata(((REPLAYED_METADATA, "true"),))
        else:
            metrics.jobs_submitted.labels(model).inc()
            log.info("job submitted", extra={"job_id": submitted.job.id})
        # The first answer said "processing"; a replay repeats that answer, whatever the job did since.
        return jobs_pb2.SubmitJobResponse(id=submitted.job.id, status=Status.PROCESSING.value)

    async def SubmitLipsyncVideo(self, request: jobs_pb2.SubmitLipsyncVideoRequest,
                                 context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-video", request, context)

    async def SubmitLipsyncImage(self, request: jobs_pb2.SubmitLipsyncImageRequest,
                                 context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-image", request, context)

    async def SubmitLipsyncImageMulti(self, request: jobs_pb2.SubmitLipsyncImageMultiRequest,
                                      context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-image-multi", request, context)

    async def GetJob(self, request: jobs_pb2.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> jobs_pb2.Job:
        token = bearer_token(context)
        key_id, _ = parse_api_key(token)
        job, key = await self.jobs.get_with_key(request.id, key_id)
        account, key_id = check_key(token, key)
        await self.budgets.charge(context, key_id, Budget.READ)
        if not job or job.get("account") != account:
            raise NotFound(f"No job {request.id[:64]}")
        return job_message(JobRecord.from_hash(job), self.settings)

    async def CancelJob(self, request: jobs_pb2.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> jobs_pb2.Job:
        account = await self._caller(context, Budget.READ)
        job = await self.jobs.get(request.id, account)
        if job.status is not Status.PROCESSING or not await self.jobs.cancel(job):
            raise Conflict(f"The job has already {(await self.jobs.get(job.id)).status.value}")
        return job_message(await self.jobs.get(job.id), self.settings)

    async def ListJobs(self, request: jobs_pb2.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> jobs_pb2.ListJobsResponse:
        account = await self._caller(context, Budget.READ)
        limit = request.limit or 20
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100", field="limit")
        jobs = await self.jobs.list(account, limit, request.before)
        return jobs_pb2.ListJobsResponse(jobs=[job_message(j, self.settings) for j in jobs])

    async def WatchJob(self, request: jobs_pb2.WatchJobRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[jobs_pb2.JobEvent]:
        """The job now, then at each change, until it has ended. An event's id is the job's
        revision + 1, so ids increase with every change, mean the same to every watcher, and a
        watcher resuming after `last_event_id` gets only what it has not seen: nothing at all
        for a job whose end it has seen."""
        account = await self._caller(context, Budget.READ)
        seen = request.last_event_id
        last: jobs_pb2.Job | None = None
        while True:
            job = await self.jobs.get(request.id, account)
            event_id = job.revision + 1
            message = job_message(job, self.settings)
            if event_id > seen and message != last:  # a write may leave what is shown as it was
                seen, last = event_id, message
                yield jobs_pb2.JobEvent(id=event_id, job=message)
            if job.status is not Status.PROCESSING:
                return
            await asyncio.sleep(WATCH_POLL_SECONDS)

    async def GetAccount(self, request: jobs_pb2.GetAccountRequest,
                         context: grpc.aio.ServicerContext) -> jobs_pb2.Account:
        account = await self._caller(context, Budget.READ)
        record = await self.accounts.account(account)
        return jobs_pb2.Account(id=account, credits=int(record.get("credits", 0)),
                                name=record.get("name", ""))


def _idempotency(context: grpc.aio.ServicerContext, request: dict[str, object]) -> Fingerprint | None:
    for key, value in context.invocation_metadata() or ():
        if key == IDEMPOTENCY_METADATA:
            return fingerprint(value.decode() if isinstance(value, bytes) else value, request)
    return None
