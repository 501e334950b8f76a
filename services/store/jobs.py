"""Job records in Redis and their state machine: processing -> completed | failed.

Every transition is one Lua script, so it is atomic and happens at most once: a job completed
by one worker cannot then be failed by another that took it over, and credits move in the same
step as the status. Submitting is one script too: the Idempotency-Key check, the credit check and
reservation, the concurrent-jobs cap, the job record, the account's indexes and the queue entry,
or nothing at all.

The cap counts the account's processing jobs as a set (`keys.account_active`): submitting adds
the job, ending it (the finish script, whatever ends it) removes it. A set rather than a counter,
so an end that somehow ran twice cannot count a job off twice.

Every write that changes what a reader sees (progress, the seed, the end) also counts up the
job's `rev`, so a watcher can number the changes and resume after one (`JobRecord.revision`).

Jobs run at least once: a worker that dies mid-job leaves its queue entry unacknowledged and
another takes it over (see `queue.py`), so rendering must be (and is) idempotent.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.core.errors import Conflict, IdempotencyConflict, InsufficientCredits, NotFound, TooManyJobs
from services.core.vocabulary import DEFAULT_RESOLUTION
from services.store import idempotency, keys
from services.store.connection import RedisClient
from services.store.idempotency import Fingerprint


class Status(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


MODELS = ("lipsync-video", "lipsync-image", "lipsync-image-multi")
CANCELED = "Job was canceled"
# How long a finished job stays readable (its record, not its output file): then it expires, so
# Redis does not grow with every job ever run.
RETENTION_SECONDS = 30 * 24 * 3600
BUSY_RETRY_SECONDS = 5.0  # a hint only: when a slot frees depends on the account's running jobs


@dataclass
class JobRecord:
    id: str
    account: str
    model: str
    status: Status
    form: dict[str, Any]
    webhook: str = ""
    resolution: str = DEFAULT_RESOLUTION
    seed: int | None = None
    output_key: str = ""
    error: str = ""
    execution_ms: int | None = None
    timings: dict[str, float] | None = None
    progress: float = 0.0
    created_at: float = 0.0
    finished_at: float | None = None
    reserved: int = 0
    credits: int | None = None
    attempts: int = 0
    revision: int = 0  # counts the changes a reader can see
    style: dict[str, Any] | None = None  # the style the render applies (from the prompt)
    key_id: str = ""  # the API key that submitted it ("": the web console's playground)
    seconds: float | None = None  # the output's length, once the worker has measured it
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> JobRecord:
        def opt_int(name: str) -> int | None:
            return int(h[name]) if h.get(name, "") != "" else None

        return cls(
            id=h["id"], account=h["account"], model=h["model"], status=Status(h["status"]),
            form=json.loads(h.get("form", "{}")), webhook=h.get("webhook", ""),
            resolution=h.get("resolution", DEFAULT_RESOLUTION), seed=opt_int("seed"),
            output_key=h.get("output_key", ""), error=h.get("error", ""),
            execution_ms=opt_int("execution_ms"),
            timings=json.loads(h["timings"]) if h.get("timings") else None,
            progress=float(h.get("progress", 0) or 0), created_at=float(h.get("created_at", 0)),
            finished_at=float(h["finished_at"]) if h.get("finished_at") else None,
            reserved=int(h.get("reserved", 0) or 0), credits=opt_int("credits"),
            attempts=int(h.get("attempts", 0) or 0), revision=int(h.get("rev", 0) or 0),
            style=json.loads(h["style"]) if h.get("style") else None,
            key_id=h.get("key", ""), seconds=float(h["seconds"]) if h.get("seconds") else None,
        )


# KEYS: account, job, queue, account's jobs, account's processing jobs, idempotency record.
# ARGV: cost, created ms, most processing jobs (0: no cap), request hash ("": no idempotency
# key), idempotency ttl s, then field/value pairs.
_SUBMIT = """
if ARGV[4] ~= '' then
  local seen = redis.call('GET', KEYS[6])
  if seen then
    local hash, id = string.match(seen, '^(%x+) (.+)$')
    if hash == ARGV[4] then return {'REPLAY', id} end
    return {'MISMATCH', 0}
  end
end
local credits = redis.call('HGET', KEYS[1], 'credits')
if not credits then return {'NOACCOUNT', 0} end
credits = tonumber(credits)
local cost = tonumber(ARGV[1])
if credits < cost then return {'INSUFFICIENT', credits} end
local most = tonumber(ARGV[3])
local active = redis.call('SCARD', KEYS[5])
if most > 0 and active >= most then return {'BUSY', active} end
redis.call('HINCRBY', KEYS[1], 'credits', -cost)
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('HSET', KEYS[2], 'reserved', cost)
local id = redis.call('HGET', KEYS[2], 'id')
redis.call('ZADD', KEYS[4], tonumber(ARGV[2]), id)
redis.call('SADD', KEYS[5], id)
redis.call('XADD', KEYS[3], '*', 'job', id)
if ARGV[4] ~= '' then redis.call('SET', KEYS[6], ARGV[4] .. ' ' .. id, 'EX', tonumber(ARGV[5])) end
return {'OK', credits - cost}
"""

# KEYS: job, account. ARGV: total cost, output seconds ("": unknown). Reserve the rest of the
# job's cost before rendering.
_SETTLE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return {'DONE', 0} end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'seconds', ARGV[2]) end
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local extra = tonumber(ARGV[1]) - reserved
if extra <= 0 then return {'OK', 0} end
local credits = tonumber(redis.call('HGET', KEYS[2], 'credits') or '0')
if credits < extra then return {'INSUFFICIENT', credits} end
redis.call('HINCRBY', KEYS[2], 'credits', -extra)
redis.call('HSET', KEYS[1], 'reserved', tonumber(ARGV[1]))
return {'OK', extra}
"""

# KEYS: job, account, events, account's processing jobs, account's job index, the submitting
# API key. ARGV: status, finished s, retention s, then field/value pairs. Completing charges what
# was reserved (and counts it to the key's credits spent); failing refunds it. Only a processing
# job moves, and it leaves the account's processing set.
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
if ARGV[1] == 'completed' then
  redis.call('HSET', KEYS[1], 'credits', reserved, 'progress', 1)
  if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('HINCRBY', KEYS[6], 'credits_spent', reserved) end
else
  redis.call('HINCRBY', KEYS[2], 'credits', reserved)
  redis.call('HSET', KEYS[1], 'credits', 0)
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reserved', 0, 'finished_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('SREM', KEYS[4], id)
-- Finished jobs are kept for the retention period, then expire; the account's index forgets
-- jobs older than that.
local retention = tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], retention)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. math.floor((tonumber(ARGV[2]) - retention) * 1000))
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'job', id, 'status', ARGV[1])
return 1
"""


class JobStore:
    def __init__(self, redis: RedisClient, retention_seconds: int = RETENTION_SECONDS) -> None:
        self.redis = redis
        self.retention_seconds = retention_seconds
        self._submit = redis.register_script(_SUBMIT)
        self._settle = redis.register_script(_SETTLE)
        self._finish = redis.register_script(_FINISH)

    async def submit(self, account: str, model: str, form: dict[str, Any], webhook: str,
                     resolution: str, seed: int | None, reserve: int, *,
                     max_active: int = 0) -> JobRecord:
        """Reserve `reserve` credits, record the job and queue it, atomically. With
        `max_active`, refuse (TooManyJobs) while the account has that many processing jobs."""
        submitted = await self.submit_once(account, model, form, webhook, resolution, seed,
                                           reserve, max_active=max_active, fingerprint=None)
        return submitted.job

    async def submit_once(self, account: str, model: str, form: dict[str, Any], webhook: str,
                          resolution: str, seed: int | None, reserve: int, *, max_active: int,
                          fingerprint: Fingerprint | None, key_id: str = "") -> Submitted:
        """`submit`, honouring an Idempotency-Key: the same key and request again answer the
        first job (`replayed`); the same key with another request is IdempotencyConflict."""
        job_id = str(uuid.uuid4())
        now = time.time()
        record = {"id": job_id, "account": account, "model": model, "status": Status.PROCESSING,
                  "form": json.dumps(form, separators=(",", ":")), "webhook": webhook,
                  "resolution": resolution, "seed": "" if seed is None else seed,
                  "created_at": now, "progress": 0, "attempts": 0, "key": key_id}
        flat = [str(v) for pair in record.items() for v in pair]
        idem_key = keys.idempotency(account, fingerprint.key_digest if fingerprint else "-")
        result = await self._submit(
            keys=[keys.account(account), keys.job(job_id), keys.JOB_QUEUE, keys.account_jobs(account),
                  keys.account_active(account), idem_key],
            args=[reserve, int(now * 1000), max_active,
                  fingerprint.request_hash if fingerprint else "", idempotency.TTL_SECONDS, *flat])
        outcome = result[0]
        if outcome == "REPLAY":
            return Submitted(await self.get(str(result[1]), account), replayed=True)
        if outcome == "MISMATCH":
            raise IdempotencyConflict(
                f"This {idempotency.HEADER} was already used for a different request; use a new "
                "key for a new job (keys are kept 24 hours)", field=idempotency.HEADER)
        if outcome == "INSUFFICIENT":
            raise InsufficientCredits(
                f"Not enough API credits: this job needs at least {reserve}, the account has "
                f"{int(result[1])}")
        if outcome == "BUSY":
            raise TooManyJobs(
                f"This account already has {int(result[1])} jobs processing, the most it may run "
                "at once; submit more when some have finished", retry_after=BUSY_RETRY_SECONDS)
        if outcome == "NOACCOUNT":
            raise NotFound("The account of this API key no longer exists")
        job = JobRecord.from_hash({k: str(v) for k, v in record.items()} | {"reserved": str(reserve)})
        return Submitted(job, replayed=False)

    async def get(self, job_id: str, account: str | None = None) -> JobRecord:
        """The job; with `account`, only if it belongs to that account (else NotFound)."""
        h = await self.redis.hgetall(keys.job(job_id)) if _plausible_id(job_id) else {}
        if not h or (account is not None and h.get("account") != account):
            raise NotFound(f"No job {job_id[:64]}")
        return JobRecord.from_hash(h)

    async def get_with_key(self, job_id: str, key_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """The job's and an API key's records in one round trip (polling is the hot path); the
        caller checks the key and that the job is its account's."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.job(job_id) if _plausible_id(job_id) else keys.job("-"))
            pipe.hgetall(keys.api_key(key_id))
            job, key = await pipe.execute()
        return job, key

    async def list(self, account: str, limit: int = 20, before: str = "") -> list[JobRecord]:
        top = "+inf"
        if before:
            score = await self.redis.zscore(keys.account_jobs(account), before)
            if score is None:
                raise NotFound(f"No job {before[:64]}")
            top = f"({int(score)}"
        ids = await self.redis.zrevrangebyscore(keys.account_jobs(account), top, "-inf",
                                                start=0, num=limit)
        jobs = []
        for job_id in ids:
            h = await self.redis.hgetall(keys.job(job_id))
            if h:
                jobs.append(JobRecord.from_hash(h))
        return jobs

    async def settle(self, job: JobRecord, total_cost: int, seconds: float | None = None) -> None:
        """Reserve the rest of the job's cost, now that its length (`seconds`) is known."""
        outcome, balance = await self._settle(keys=[keys.job(job.id), keys.account(job.account)],
                                              args=[total_cost, "" if seconds is None else round(seconds, 3)])
        if outcome == "INSUFFICIENT":
            raise InsufficientCredits(
                f"Not enough API credits: this job needs {total_cost}, the account had "
                f"{int(balance) + job.reserved} with this job's reservation")
        if outcome == "DONE":
            raise Conflict("The job has already ended")

    async def set_progress(self, job_id: str, progress: float) -> None:
        await self._visible_change(job_id, {"progress": round(progress, 4)})

    async def begin_attempt(self, job_id: str) -> int:
        """Count a worker taking the job; returns the attempt number (1 for the first)."""
        return int(await self.redis.hincrby(keys.job(job_id), "attempts", 1))

    async def set_seed(self, job_id: str, seed: int, style: dict[str, Any] | None = None) -> None:
        """The seed the render uses and, with `style`, the style it applies (one change)."""
        fields: dict[str, float | int | str] = {"seed": seed}
        if style is not None:
            fields["style"] = json.dumps(style, ensure_ascii=False, separators=(",", ":"))
        await self._visible_change(job_id, fields)

    async def _visible_change(self, job_id: str, fields: dict[str, float | int | str]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.job(job_id), mapping=fields)
            pipe.hincrby(keys.job(job_id), "rev", 1)
            await pipe.execute()

    async def complete(self, job: JobRecord, output_key: str, execution_ms: int,
                       timings: dict[str, float]) -> bool:
        return await self._end(job, Status.COMPLETED, {
            "output_key": output_key, "execution_ms": execution_ms, "error": "",
            "timings": json.dumps({k: round(v) for k, v in timings.items()})})

    async def fail(self, job: JobRecord, error: str, execution_ms: int | None = None) -> bool:
        fields: dict[str, Any] = {"error": error}
        if execution_ms is not None:
            fields["execution_ms"] = execution_ms
        return await self._end(job, Status.FAILED, fields)

    async def cancel(self, job: JobRecord) -> bool:
        return await self.fail(job, CANCELED)

    async def _end(self, job: JobRecord, status: Status, fields: dict[str, Any]) -> bool:
        flat = [str(v) for pair in fields.items() for v in pair]
        done = await self._finish(keys=[keys.job(job.id), keys.account(job.account), keys.JOB_EVENTS,
                                        keys.account_active(job.account), keys.account_jobs(job.account),
                                        keys.api_key(job.key_id or "-")],
                                  args=[status.value, time.time(), self.retention_seconds, *flat])
        return bool(done)


@dataclass(frozen=True)
class Submitted:
    job: JobRecord
    replayed: bool  # an earlier submit with the same Idempotency-Key and request made `job`


def _plausible_id(job_id: str) -> bool:
    try:
        uuid.UUID(job_id)
    except (ValueError, TypeError):
        return False
    return True
