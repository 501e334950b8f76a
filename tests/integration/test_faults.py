"""Faults, each on the production processes (`ProcessStack`: redis-server, `lipsync serve jobs`,
`inference`, `webhooks` and `proxy`, separate processes on loopback): workers SIGKILLed mid-job,
Redis killed and restarted under load, the webhook role restarted with webhooks pending.

What a client must see in every case: each accepted job ends, completes exactly once (one
`completed` event, one charge) and its webhook arrives.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
import redis
from faults_stack import LOCAL, NO_LIMITS, StackClient, make_inputs, speech_seconds, webhook_receiver
from waiting import wait_until

from protos.lipsync.v1 import jobs_pb2, jobs_pb2_grpc
from services.core import billing
from services.devtools.process_stack import ProcessStack
from services.store import keys
from services.webhooks.signing import verify

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

CREDITS = 1000


def test_workers_killed_mid_job_every_job_completes_once(tmp_path: Path) -> None:
    """24 jobs on three worker processes; whenever a worker is rendering, one is SIGKILLed and a
    fresh one started, until 8 have died. Another worker takes each orphaned job over after
    `claim_idle_seconds`."""
    env = {**NO_LIMITS, **LOCAL, "LIPSYNC_CLAIM_IDLE_SECONDS": "1", "LIPSYNC_MAX_ATTEMPTS": "10"}
    inputs = make_inputs(tmp_path / "inputs", "Hello Bob. Mop the bump. Peter Piper picked a peck of "
                         "pickled peppers. The quick brown fox jumps over the lazy dog.")
    cost = billing.cost(speech_seconds(inputs["audio"]), "480p")
    with webhook_receiver() as receiver, ProcessStack(tmp_path / "stack", workers=3, env=env) as stack:
        client = StackClient(stack)
        try:
            accounts = client.new_keys(24, CREDITS)
            form = {name: client.upload(accounts[0], path) for name, path in inputs.items()}
            jobs = {}
            for key in accounts:
                reply = client.submit(key, form, webhook=receiver.url("/hook"))
                assert reply.status_code == 200, reply.text
                jobs[reply.json()["id"]] = key
            kills = _kill_workers_mid_job(stack, client, list(jobs), kills=8)
            ended = client.wait_all_ended(list(jobs), timeout=240)
            wait_until(lambda: set(receiver.delivered()) >= set(jobs), timeout=30, interval=0.2,
                       what=f"the webhooks of all {len(jobs)} jobs",
                       context=lambda: f"delivered {len(receiver.delivered())}")
            events = Counter((e["job"], e["status"]) for e in client.events())
            for job_id, key in jobs.items():
                record = ended[job_id]
                assert record["status"] == "completed", record
                assert events[(job_id, "completed")] == 1 and events[(job_id, "failed")] == 0
                assert int(record["credits"]) == cost
                assert client.credits(key.account_id) == CREDITS - cost  # charged once
            assert kills == 8
            retries = sum(int(ended[j]["attempts"]) - 1 for j in jobs)
            print(f"8 workers killed; attempts beyond the first: {retries}")
            assert retries >= 4  # the kills did land mid-job
            delivered = receiver.delivered()
            assert set(delivered) == set(jobs)
            assert all(job["status"] == "completed" for job in delivered.values())
            # At least once, never two different deliveries of one job: one webhook-id each.
            ids = {r.headers["webhook-id"] for r in receiver.answered()}
            assert len(ids) == len(jobs)
        finally:
            client.close()


def _kill_workers_mid_job(stack: ProcessStack, client: StackClient, job_ids: list[str], kills: int) -> int:
    """SIGKILL a worker process while it renders (a job of its own has progress), `kills` times,
    starting a fresh one each time; returns how many were killed."""
    rng = random.Random(5)
    ends = time.monotonic() + 180  # for all the kills together

    def victims() -> list[str] | None:
        """Workers rendering now; None once every job has ended (nothing left to kill)."""
        rendering = _rendering_consumers(client)
        found = [name for name in stack.worker_names if stack.running(name)
                 and any(consumer.endswith(f"-{stack.pids()[name]}") for consumer in rendering)]
        if not found and all(client.job(j).get("status") != "processing" for j in job_ids):
            return None
        return found

    for done in range(kills):
        found = wait_until(victims, until=lambda v: v != [], timeout=max(0.0, ends - time.monotonic()),
                           what=f"a worker rendering (kill {done + 1} of {kills})")
        if found is None:
            return done
        stack.stop_process(rng.choice(found), kill=True)
        stack.add_worker()
        time.sleep(rng.uniform(0.3, 1.2))  # faults spread over the run, not a wait for anything
    return kills


def _rendering_consumers(client: StackClient) -> set[str]:
    """Consumers holding a queue entry whose job has started rendering."""
    try:
        pending = client.redis.xpending_range(keys.JOB_QUEUE, keys.WORKER_GROUP, min="-", max="+",
                                              count=100)
    except redis.ResponseError as exc:
        # The stack is ready once the proxy is; a worker may not have made its group yet.
        if "NOGROUP" in str(exc):
            return set()
        raise
    found = set()
    for entry in pending:
        fields = client.redis.xrange(keys.JOB_QUEUE, entry["message_id"], entry["message_id"])
        if not fields:
            continue
        job = client.job(fields[0][1]["job"])
        if job.get("status") == "processing" and float(job.get("progress") or 0) > 0:
            found.add(entry["consumer"])
    return found


def test_redis_restart_under_load_loses_no_accepted_job(tmp_path: Path) -> None:
    """Clients submit and poll; Redis is SIGKILLed mid-load and started again on the same port
    and data directory (its append-only file). Every submit that got an id completes."""
    env = {**NO_LIMITS, **LOCAL, "LIPSYNC_CLAIM_IDLE_SECONDS": "2", "LIPSYNC_MAX_ATTEMPTS": "10"}
    inputs = make_inputs(tmp_path / "inputs", "Hello Bob.")
    with ProcessStack(tmp_path / "stack", workers=2, env=env) as stack:
        client = StackClient(stack)
        try:
            (key,) = client.new_keys(1, 1_000_000)
            form = {name: client.upload(key, path) for name, path in inputs.items()}
            accepted: list[str] = []
            answers: Counter[int] = Counter()
            lock = threading.Lock()
            stop = threading.Event()

            def submitter() -> None:
                while not stop.is_set():
                    try:
                        reply = client.submit(key, form)
                    except Exception:  # the proxy answers even when Redis is down; count it anyway
                        reply = None
                    with lock:
                        answers[reply.status_code if reply is not None else 0] += 1
                        if reply is not None and reply.status_code == 200:
                            accepted.append(reply.json()["id"])
                    stop.wait(0.4)

            def count(status: int) -> int:
                with lock:
                    return answers[status]

            threads = [threading.Thread(target=submitter) for _ in range(3)]
            for thread in threads:
                thread.start()
            # Each phase lasts until what it is for has happened, however fast the machine is:
            # ten jobs accepted, then Redis down until the API has said so, then ten more.
            wait_until(lambda: len(accepted) >= 10, timeout=60, what="10 jobs accepted under load")
            before = len(accepted)
            stack.redis.stop(kill=True)
            wait_until(lambda: count(503) >= 1, timeout=60, what="a 503 while Redis is down",
                       context=lambda: answers)
            stack.redis.start()
            wait_until(lambda: len(accepted) >= before + 10, timeout=120,
                       what="10 more jobs accepted after Redis came back", context=lambda: answers)
            stop.set()
            for thread in threads:
                thread.join()
            after = len(accepted) - before
            ended = client.wait_all_ended(accepted, timeout=300)
        finally:
            client.close()
        assert before >= 10 and after >= 10, answers  # it really was under load on both sides
        assert set(answers) <= {200, 503}, answers  # down: 503 with Retry-After, never a 500
        assert answers[503] >= 1
        failed = {j: h for j, h in ended.items() if h["status"] != "completed"}
        assert not failed, failed
        stack.wait_ready(10)


def test_webhook_role_restart_delivers_every_pending_webhook(tmp_path: Path) -> None:
    """Deliveries waiting for a retry when the webhook role stops, and jobs that end while none
    runs, are all delivered by the webhook role started again."""
    env = {**NO_LIMITS, **LOCAL}
    inputs = make_inputs(tmp_path / "inputs", "Hello Bob.")
    with webhook_receiver() as receiver, ProcessStack(tmp_path / "stack", workers=1, env=env) as stack:
        client = StackClient(stack)
        try:
            (key,) = client.new_keys(1, 10_000)
            form = {name: client.upload(key, path) for name, path in inputs.items()}
            receiver.status = 503  # the first attempts fail: retries are scheduled (5 s)
            retried = [client.submit(key, form, receiver.url("/retried")).json()["id"] for _ in range(3)]
            client.wait_all_ended(retried, timeout=120)
            wait_until(lambda: len(receiver.requests) >= 3, timeout=30, interval=0.1,
                       what="the first attempts of 3 webhooks")
            stack.stop_process("webhooks")

            # While no webhook role runs: internal callers submit over gRPC; the jobs end meanwhile.
            with grpc.insecure_channel(stack.jobs_addr) as channel:
                stub = jobs_pb2_grpc.JobServiceStub(channel)
                request = jobs_pb2.SubmitLipsyncImageRequest(
                    webhook=receiver.url("/while-down"), form_state=jobs_pb2.LipsyncImageForm(**form))
                metadata = [("authorization", f"Bearer {key.api_key}")]
                later = [stub.SubmitLipsyncImage(request, metadata=metadata).id for _ in range(3)]
            client.wait_all_ended(later, timeout=120)
            # No sleep is needed to show that nothing was delivered meanwhile: the webhook role's
            # process has exited, so nothing can send; what shows is that the later jobs' events
            # are written, waiting for it.
            assert not stack.running("webhooks")
            ended_events = {e["job"] for e in client.events() if e["status"] != "processing"}
            assert set(later) <= ended_events
            assert not receiver.delivered()
            receiver.status = 200

            stack.start_process("webhooks")
            wait_until(lambda: len(receiver.delivered()) >= 6, timeout=60, interval=0.2,
                       what="6 webhooks delivered", context=lambda: sorted(receiver.delivered()))
        finally:
            client.close()
        assert set(receiver.delivered()) == set(retried + later)
        for request in receiver.answered():
            verify(key.webhook_secret, request.headers, request.body)
