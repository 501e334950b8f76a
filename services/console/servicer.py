"""ConsoleService: the web console's rpcs, each scoped to the signed-in user's account.

Sign-in checks the argon2 hash and is throttled per email and per client address (the same
GCRA budgets as API keys, in their own buckets), and always starts a new session. Every other
call resolves the session first; a user reaches only their own account's keys, jobs and usage
(another account's job is NotFound, as in the public API), and only admins list accounts or add
credits. Playground submits go through the public API's validation and atomic submit step, so
they are checked, limited and charged exactly as API calls are (with no API key: "playground").
"""

from __future__ import annotations

import logging
import math
import time

import grpc

from protos.lipsync.v1 import console_pb2, console_pb2_grpc, jobs_pb2
from services.console.session_auth import session_token
from services.console.usage_report import totals, usage_row
from services.core import billing, metrics
from services.core.errors import InvalidArgument, NotFound, PermissionDenied, RateLimited
from services.core.settings import Settings
from services.jobs.present import job_message
from services.jobs.servicer import SubmitRequest
from services.jobs.validation import validate
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobRecord, JobStore
from services.store.key_usage import usage_of
from services.store.ratelimit import RateLimiter
from services.store.sessions import SessionStore
from services.store.users import User, UserStore
from services.webhooks.deliveries import DeliveryStore, delivery_id

log = logging.getLogger(__name__)
MAX_KEY_NAME = 100
MAX_CREDITS_ADDED = 1_000_000_000
SIGNIN_BUCKET = "console-signin"  # rate-limit keys: lipsync:rate:<who>:console-signin
MODELS = {"video": "lipsync-video", "image": "lipsync-image", "image_multi": "lipsync-image-multi"}


class ConsoleServicer(console_pb2_grpc.ConsoleServiceServicer):
    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.settings = settings
        self.redis = redis
        self.users = UserStore(redis)
        self.accounts = AccountStore(redis)
        self.sessions = SessionStore(redis, settings.console_session_seconds)
        self.jobs = JobStore(redis)
        self.deliveries = DeliveryStore(redis)
        self.limiter = RateLimiter(redis)

    # -- signing in ----------------------------------------------------------------------------

    async def _throttle(self, email: str, address: str) -> None:
        """Spend one sign-in attempt of the email's and the address's budgets."""
        budgets = ((f"email:{email.strip().lower()[:254]}",
                    self.settings.console_signin_per_account_per_minute),
                   (f"address:{address[:64]}", self.settings.console_signin_per_address_per_minute))
        for who, per_minute in budgets:
            if per_minute <= 0 or who.endswith(":"):
                continue
            decision = await self.limiter.hit(who, SIGNIN_BUCKET, per_minute)
            if not decision.allowed:
                wait = max(1, math.ceil(decision.retry_after_seconds))
                raise RateLimited(f"Too many sign-in attempts; try again in {wait} s", retry_after=wait)

    async def _new_session(self, user: User, replaces: str = "") -> console_pb2.NewSession:
        session = await self.sessions.start(user.id, replaces)
        return console_pb2.NewSession(token=session.token, csrf_token=session.csrf_token,
                                      expires_at=int(session.expires_at), user=_user(user))

    async def SignIn(self, request: console_pb2.SignInRequest,
                     context: grpc.aio.ServicerContext) -> console_pb2.NewSession:
        await self._throttle(request.email, request.client_address)
        user = await self.users.check_password(request.email, request.password)
        log.info("console sign-in", extra={"user": user.id})
        return await self._new_session(user, request.replaces_session)

    async def SignUp(self, request: console_pb2.SignUpRequest,
                     context: grpc.aio.ServicerContext) -> console_pb2.NewSession:
        if not self.settings.console_signup:
            raise PermissionDenied("Sign-up is closed: ask the operator for an account")
        await self._throttle(request.email, request.client_address)
        user = await self.users.create(request.email, request.password)
        return await self._new_session(user)

    async def _user(self, context: grpc.aio.ServicerContext) -> tuple[User, str]:
        """The signed-in user and their session's CSRF token."""
        session = await self.sessions.resolve(session_token(context))
        try:
            return await self.users.get(session.user_id), session.csrf_token
        except NotFound:
            raise NotFound("The user of this session no longer exists") from None

    async def GetSession(self, request: console_pb2.GetSessionRequest,
                         context: grpc.aio.ServicerContext) -> console_pb2.SessionInfo:
        token = session_token(context)
        session = await self.sessions.resolve(token)
        user = await self.users.get(session.user_id)
        return console_pb2.SessionInfo(
            user=_user(user), csrf_token=session.csrf_token,
            credits=await self.accounts.credits(user.account_id),
            expires_at=int(session.expires_at), signup_open=self.settings.console_signup)

    async def SignOut(self, request: console_pb2.SignOutRequest,
                      context: grpc.aio.ServicerContext) -> console_pb2.SignOutResponse:
        await self.sessions.end(session_token(context))
        return console_pb2.SignOutResponse()

    # -- API keys ------------------------------------------------------------------------------

    async def _account_keys(self, account_id: str) -> list[tuple[str, dict[str, str]]]:
        """(key id, record) of the account's keys, oldest first. Keys made before the console
        kept no per-account index: they are found once by scanning, then indexed."""
        index = keys.account_keys(account_id)
        if not await self.redis.hget(keys.account(account_id), "keys_indexed"):
            for key_id in await self.redis.smembers(keys.ALL_KEYS):
                if await self.redis.hget(keys.api_key(key_id), "account") == account_id:
                    await self.redis.sadd(index, key_id)
            await self.redis.hset(keys.account(account_id), "keys_indexed", 1)
        found = []
        for key_id in await self.redis.smembers(index):
            record = await self.redis.hgetall(keys.api_key(key_id))
            if record and record.get("account") == account_id:
                found.append((key_id, record))
        return sorted(found, key=lambda item: float(item[1].get("created_at") or 0))

    async def ListKeys(self, request: console_pb2.ListConsoleKeysRequest,
                       context: grpc.aio.ServicerContext) -> console_pb2.ListConsoleKeysResponse:
        user, _ = await self._user(context)
        return console_pb2.ListConsoleKeysResponse(
            keys=[_key(key_id, r) for key_id, r in await self._account_keys(user.account_id)])

    async def CreateKey(self, request: console_pb2.CreateConsoleKeyRequest,
                        context: grpc.aio.ServicerContext) -> console_pb2.CreatedConsoleKey:
        user, _ = await self._user(context)
        name = request.name.strip()
        if len(name) > MAX_KEY_NAME or not name.isprintable():
            raise InvalidArgument(f"A key's name is at most {MAX_KEY_NAME} printable characters",
                                  field="name")
        await self._account_keys(user.account_id)  # index older keys before adding one
        new = await self.accounts.create_key(name, 0, user.account_id)
        record = await self.redis.hgetall(keys.api_key(new.key_id))
        return console_pb2.CreatedConsoleKey(key=_key(new.key_id, record), api_key=new.api_key,
                                             webhook_secret=new.webhook_secret)

    async def RevokeKey(self, request: console_pb2.RevokeConsoleKeyRequest,
                        context: grpc.aio.ServicerContext) -> console_pb2.ConsoleKey:
        user, _ = await self._user(context)
        record = await self.redis.hgetall(keys.api_key(request.key_id)) if request.key_id.isalnum() else {}
        if not record or record.get("account") != user.account_id:
            raise NotFound(f"No API key {request.key_id[:64]}")
        await self.accounts.revoke(request.key_id)
        return _key(request.key_id, {**record, "revoked": "1"})

    # -- usage and jobs ------------------------------------------------------------------------

    async def _key_names(self, account_id: str) -> dict[str, str]:
        return {key_id: r.get("name", "") for key_id, r in await self._account_keys(account_id)}

    async def GetUsage(self, request: console_pb2.GetUsageRequest,
                       context: grpc.aio.ServicerContext) -> console_pb2.Usage:
        user, _ = await self._user(context)
        limit = request.limit or 200
        if not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be between 1 and 10000", field="limit")
        names = await self._key_names(user.account_id)
        jobs = await self.jobs.list(user.account_id, limit + 1)
        rows = [usage_row(job, names) for job in jobs[:limit]]
        return console_pb2.Usage(credits=await self.accounts.credits(user.account_id), jobs=rows,
                                 per_key=totals(rows, by_day=False), per_day=totals(rows, by_day=True),
                                 truncated=len(jobs) > limit)

    async def _console_job(self, job: JobRecord, names: dict[str, str]) -> console_pb2.ConsoleJob:
        out = console_pb2.ConsoleJob(job=job_message(job, self.settings), key_id=job.key_id,
                                     key_name=names.get(job.key_id, ""), webhook=job.webhook)
        if job.webhook:
            did = delivery_id(job.id)
            delivery = await self.deliveries.get(did)
            if delivery is not None:
                out.deliveries.append(console_pb2.WebhookDelivery(
                    id=delivery.id, url=delivery.url, state=delivery.state.value,
                    next_at=delivery.next_at or 0.0,
                    attempts=[console_pb2.WebhookAttempt(
                        attempt=a.attempt, at=a.at, duration_ms=a.duration_ms,
                        status_code=a.status or 0, error=a.error, result=a.result)
                        for a in await self.deliveries.attempts(did)]))
        return out

    async def ListJobs(self, request: console_pb2.ListConsoleJobsRequest,
                       context: grpc.aio.ServicerContext) -> console_pb2.ListConsoleJobsResponse:
        user, _ = await self._user(context)
        limit = request.limit or 50
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100", field="limit")
        names = await self._key_names(user.account_id)
        jobs = await self.jobs.list(user.account_id, limit, request.before)
        return console_pb2.ListConsoleJobsResponse(jobs=[await self._console_job(j, names) for j in jobs])

    async def GetJob(self, request: console_pb2.GetConsoleJobRequest,
                     context: grpc.aio.ServicerContext) -> console_pb2.ConsoleJob:
        user, _ = await self._user(context)
        job = await self.jobs.get(request.id, user.account_id)  # another account's: NotFound
        return await self._console_job(job, await self._key_names(user.account_id))

    async def SubmitJob(self, request: console_pb2.ConsoleSubmitRequest,
                        context: grpc.aio.ServicerContext) -> jobs_pb2.SubmitJobResponse:
        user, _ = await self._user(context)
        which = request.WhichOneof("request")
        if which is None:
            raise InvalidArgument("Choose an endpoint: lipsync-video, lipsync-image or "
                                  "lipsync-image-multi", field="model")
        model = MODELS[which]
        submit: SubmitRequest = getattr(request, which)
        valid = validate(model, submit.webhook, submit.HasField("form_state"), submit.form_state,
                         self.settings)
        submitted = await self.jobs.submit_once(
            user.account_id, model, valid.form, submit.webhook, valid.resolution, valid.seed,
            reserve=billing.minimum_cost(valid.resolution),
            max_active=self.settings.max_concurrent_jobs, fingerprint=None)
        metrics.jobs_submitted.labels(model).inc()
        log.info("job submitted from the console", extra={"job_id": submitted.job.id})
        return jobs_pb2.SubmitJobResponse(id=submitted.job.id, status=submitted.job.status.value)

    # -- admins --------------------------------------------------------------------------------

    async def _admin(self, context: grpc.aio.ServicerContext) -> User:
        user, _ = await self._user(context)
        if not user.admin:
            raise PermissionDenied("Only administrators may do this")
        return user

    async def _summary(self, account_id: str, emails: list[str]) -> console_pb2.AccountSummary:
        record = await self.accounts.account(account_id)
        account_keys = await self._account_keys(account_id)
        return console_pb2.AccountSummary(
            id=account_id, name=record.get("name", ""), credits=int(record.get("credits") or 0),
            emails=emails, keys=len(account_keys),
            active_keys=sum(1 for _, r in account_keys if r.get("revoked") != "1"))

    async def ListAccounts(self, request: console_pb2.ListAccountsRequest,
                           context: grpc.aio.ServicerContext) -> console_pb2.ListAccountsResponse:
        await self._admin(context)
        emails: dict[str, list[str]] = {}
        for user in await self.users.all():
            emails.setdefault(user.account_id, []).append(user.email)
        ids = set(await self.redis.smembers(keys.ALL_ACCOUNTS)) | set(emails)
        for key_id in await self.redis.smembers(keys.ALL_KEYS):  # accounts older than the index
            account = await self.redis.hget(keys.api_key(key_id), "account")
            if account:
                ids.add(account)
        summaries = []
        for account_id in sorted(ids):
            try:
                summaries.append(await self._summary(account_id, emails.get(account_id, [])))
            except NotFound:
                continue
        return console_pb2.ListAccountsResponse(accounts=summaries)

    async def AddCredits(self, request: console_pb2.AddAccountCreditsRequest,
                         context: grpc.aio.ServicerContext) -> console_pb2.AccountSummary:
        admin = await self._admin(context)
        if not 1 <= request.credits <= MAX_CREDITS_ADDED:
            raise InvalidArgument(f"Add between 1 and {MAX_CREDITS_ADDED} credits", field="credits")
        await self.accounts.add_credits(request.account_id, request.credits)
        log.info("credits added from the console", extra={"user": admin.id})
        users = await self.users.of_account(request.account_id)
        return await self._summary(request.account_id, [u.email for u in users])


def _user(user: User) -> console_pb2.User:
    return console_pb2.User(id=user.id, email=user.email, account_id=user.account_id, admin=user.admin)


def _key(key_id: str, record: dict[str, str]) -> console_pb2.ConsoleKey:
    usage = usage_of(record)
    return console_pb2.ConsoleKey(
        key_id=key_id, name=record.get("name", ""), prefix=f"sk_{key_id}_",
        created_at=float(record.get("created_at") or time.time()), last_used=usage.last_used or 0.0,
        requests=usage.requests, credits_spent=usage.credits_spent, revoked=record.get("revoked") == "1")
