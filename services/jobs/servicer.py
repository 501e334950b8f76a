"""JobService: submit, read, cancel, list and watch jobs; every read scoped to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from protos.lipsync.v1 import jobs_pb2, jobs_pb2_grpc
from services import billing
from services.errors import Conflict, InvalidArgument, NotFound
from services.jobs.auth import bearer_token, caller_account
from services.jobs.handlers import streaming, unary
from services.jobs.present import job_message
from services.jobs.validation import validate
from services.settings import Settings
from services.store.accounts import AccountStore, check_key, parse_api_key
from services.store.connection import RedisClient
from services.store.jobs import JobRecord, JobStore, Status

WATCH_POLL_SECONDS = 0.25
SubmitRequest = (jobs_pb2.SubmitLipsyncVideoRequest | jobs_pb2.SubmitLipsyncImageRequest
                 | jobs_pb2.SubmitLipsyncImageMultiRequest)


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.settings = settings
        self.jobs = JobStore(redis)
        self.accounts = AccountStore(redis)

    async def _submit(self, model: str, request: SubmitRequest,
                      context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        account = await caller_account(context, self.accounts)
        valid = validate(model, request.webhook, request.HasField("form_state"), request.form_state,
                         self.settings)
        job = await self.jobs.submit(account, model, valid.form, request.webhook, valid.resolution,
                                     valid.seed, reserve=billing.minimum_cost(valid.resolution))
        return jobs_pb2.SubmitJobResponse(id=job.id, status=job.status.value)

    @unary
    async def SubmitLipsyncVideo(self, request: jobs_pb2.SubmitLipsyncVideoRequest,
                                 context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-video", request, context)

    @unary
    async def SubmitLipsyncImage(self, request: jobs_pb2.SubmitLipsyncImageRequest,
                                 context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-image", request, context)

    @unary
    async def SubmitLipsyncImageMulti(self, request: jobs_pb2.SubmitLipsyncImageMultiRequest,
                                      context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        return await self._submit("lipsync-image-multi", request, context)

    @unary
    async def GetJob(self, request: jobs_pb2.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> jobs_pb2.Job:
        token = bearer_token(context)
        key_id, _ = parse_api_key(token)
        job, key = await self.jobs.get_with_key(request.id, key_id)
        account, _ = check_key(token, key)
        if not job or job.get("account") != account:
            raise NotFound(f"No job {request.id[:64]}")
        return job_message(JobRecord.from_hash(job), self.settings)

    @unary
    async def CancelJob(self, request: jobs_pb2.CancelJobRequest,
                        context: grpc.aio.ServicerContext) -> jobs_pb2.Job:
        account = await caller_account(context, self.accounts)
        job = await self.jobs.get(request.id, account)
        if job.status is not Status.PROCESSING or not await self.jobs.cancel(job):
            raise Conflict(f"The job has already {(await self.jobs.get(job.id)).status.value}")
        return job_message(await self.jobs.get(job.id), self.settings)

    @unary
    async def ListJobs(self, request: jobs_pb2.ListJobsRequest,
                       context: grpc.aio.ServicerContext) -> jobs_pb2.ListJobsResponse:
        account = await caller_account(context, self.accounts)
        limit = request.limit or 20
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100", field="limit")
        jobs = await self.jobs.list(account, limit, request.before)
        return jobs_pb2.ListJobsResponse(jobs=[job_message(j, self.settings) for j in jobs])

    @streaming
    async def WatchJob(self, request: jobs_pb2.WatchJobRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[jobs_pb2.Job]:
        account = await caller_account(context, self.accounts)
        last: tuple[str, float] | None = None
        while True:
            job = await self.jobs.get(request.id, account)
            state = (job.status.value, job.progress)
            if state != last:
                last = state
                yield job_message(job, self.settings)
            if job.status is not Status.PROCESSING:
                return
            await asyncio.sleep(WATCH_POLL_SECONDS)

    @unary
    async def GetAccount(self, request: jobs_pb2.GetAccountRequest,
                         context: grpc.aio.ServicerContext) -> jobs_pb2.Account:
        account = await caller_account(context, self.accounts)
        record = await self.accounts.account(account)
        return jobs_pb2.Account(id=account, credits=int(record.get("credits", 0)),
                                name=record.get("name", ""))
