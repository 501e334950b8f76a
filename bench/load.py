"""Load: many clients submit jobs and poll them to their end, against the production processes.

    .venv/bin/python bench/load.py [--clients 200] [--seconds 60] [--workers 2] [--poll 1.0]

Starts its own stack on free loopback ports (`ProcessStack`: redis-server, `lipsync serve jobs`,
one `lipsync serve inference` per worker, `lipsync serve webhooks`, `lipsync serve proxy`) and
stops it at the end. Each
client has an API key of its own (one account each, as separate users would) and loops: submit a
tiny job (a portrait and a second of speech, uploaded once), poll it every `--poll` seconds until
it ends, again. After `--seconds` no client submits any more, and every job already accepted is
polled to its end (`--drain-timeout`). Answers 429 and 503 are waited out (`Retry-After`) and
counted. Every request goes to 127.0.0.1 and the whole run is bounded in time.

Prints throughput, latency percentiles (submit, poll, a job from submit to end), jobs accepted /
completed / failed, and the resident memory of every server process after a warm-up, at the
peak, and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil

from services.devtools.process_stack import ProcessStack
from services.store.accounts import AccountStore
from services.store.connection import connect


@dataclass
class Results:
    submit_ms: list[float] = field(default_factory=list)
    poll_ms: list[float] = field(default_factory=list)
    job_s: list[float] = field(default_factory=list)  # submit to end, as the client saw it
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # completed | failed | unfinished
    accepted: int = 0
    transport_errors: int = 0


@dataclass(frozen=True)
class Plan:
    clients: int
    seconds: float
    poll: float
    drain_timeout: float


async def client_loop(http: httpx.AsyncClient, key: str, form: dict[str, str], plan: Plan,
                      load_ends: float, gives_up: float, results: Results) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < load_ends:
        started = time.monotonic()
        reply = await _request(http, "POST", "/api/v1/lipsync-image", headers, results.submit_ms, results,
                               json={"formState": form})
        if reply is None or reply.status_code != 200:
            continue
        results.accepted += 1
        job_id = reply.json()["id"]
        while True:  # polled to its end, also after the load phase
            if time.monotonic() > gives_up:
                results.outcomes["unfinished"] += 1
                return
            await asyncio.sleep(plan.poll)
            polled = await _request(http, "GET", f"/api/v1/jobs/{job_id}", headers, results.poll_ms, results)
            if polled is not None and polled.status_code == 200 and polled.json()["status"] != "processing":
                results.outcomes[polled.json()["status"]] += 1
                results.job_s.append(time.monotonic() - started)
                break


async def _request(http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
                   latencies: list[float], results: Results, **kwargs: object) -> httpx.Response | None:
    """One request, timed; a 429 or 503 is waited out as its Retry-After says, then None."""
    started = time.perf_counter()
    try:
        reply = await http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        results.transport_errors += 1
        await asyncio.sleep(1)
        return None
    latencies.append((time.perf_counter() - started) * 1000)
    results.statuses[reply.status_code] += 1
    if reply.status_code in (429, 503):
        await asyncio.sleep(float(reply.headers.get("retry-after", "1")))
        return None
    return reply


class MemoryWatch:
    """RSS of each server process, sampled every second in a thread: the peak and the last."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, int]:
        found = {}
        for name, process in self.processes.items():
            try:
                found[name] = process.memory_info().rss
            except psutil.Error:
                found[name] = 0
            self.peak[name] = max(self.peak[name], found[name])
        return found

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_inputs(folder: Path) -> dict[str, Path]:
    """A small portrait and about a second of speech: a job renders in a fraction of a second."""
    import cv2

    from services.devtools import samples

    folder.mkdir(parents=True, exist_ok=True)
    face = samples.grace_hopper()
    small = cv2.resize(face, (face.shape[1] // 2, face.shape[0] // 2), interpolation=cv2.INTER_AREA)
    samples.save_image(folder / "face.png", small)
    samples.save_speech(folder / "speech.wav", "Hi Bob.")
    return {"image": folder / "face.png", "audio": folder / "speech.wav"}


def create_keys(redis_url: str, n: int) -> list[str]:
    async def create() -> list[str]:
        redis = connect(redis_url)
        try:
            store = AccountStore(redis)
            return [(await store.create_key(f"load-{i}", 1_000_000)).api_key for i in range(n)]
        finally:
            await redis.aclose()

    return asyncio.run(create())


async def run_load(base_url: str, keys: list[str], form: dict[str, str], plan: Plan) -> tuple[Results, float]:
    results = Results()
    limits = httpx.Limits(max_connections=plan.clients, max_keepalive_connections=plan.clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        started = time.monotonic()
        load_ends = started + plan.seconds
        gives_up = load_ends + plan.drain_timeout
        await asyncio.gather(*(client_loop(http, key, form, plan, load_ends, gives_up, results)
                               for key in keys))
    return results, time.monotonic() - started


def warm_up(base_url: str, key: str, form: dict[str, str], jobs: int) -> None:
    """A few jobs end to end first, so each worker has loaded its models before measuring."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        ids = [http.post("/api/v1/lipsync-image", json={"formState": form}).json()["id"] for _ in range(jobs)]
        deadline = time.monotonic() + 120
        for job_id in ids:
            while http.get(f"/api/v1/jobs/{job_id}").json()["status"] == "processing":
                if time.monotonic() > deadline:
                    raise TimeoutError("the warm-up jobs did not finish in 120 s")
                time.sleep(0.2)


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"{p50:.1f} / {p90:.1f} / {p99:.1f} / {max(values):.1f}"


def report(plan: Plan, workers: int, results: Results, elapsed: float, memory: MemoryWatch,
           before: dict[str, int], after: dict[str, int]) -> None:
    mib = 1 << 20
    requests = sum(results.statuses.values())
    completed = results.outcomes["completed"]
    print(f"\nload: {plan.clients} clients for {plan.seconds:.0f} s, polling every {plan.poll:g} s, "
          f"{workers} inference worker(s); {elapsed:.1f} s including the drain")
    print(f"requests: {requests} ({requests / elapsed:.1f}/s); by status: "
          f"{dict(sorted(results.statuses.items()))}; transport errors: {results.transport_errors}")
    print(f"jobs: accepted {results.accepted}, completed {completed}, failed {results.outcomes['failed']}, "
          f"unfinished {results.outcomes['unfinished']}; {completed / elapsed:.2f} completed/s")
    print("\n| latency | n | p50 / p90 / p99 / max |\n| --- | --- | --- |")
    print(f"| submit (ms) | {len(results.submit_ms)} | {percentiles(results.submit_ms)} |")
    print(f"| poll (ms) | {len(results.poll_ms)} | {percentiles(results.poll_ms)} |")
    print(f"| job, submit to end seen (s) | {len(results.job_s)} | {percentiles(results.job_s)} |")
    print("\n| process | RSS after warm-up (MiB) | peak (MiB) | end (MiB) | growth (MiB) |")
    print("| --- | --- | --- | --- | --- |")
    for name in before:
        print(f"| {name} | {before[name] / mib:.0f} | {memory.peak[name] / mib:.0f} | "
              f"{after[name] / mib:.0f} | {(after[name] - before[name]) / mib:+.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load phase")
    parser.add_argument("--workers", type=int, default=2, help="inference processes")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between a client's polls")
    parser.add_argument("--worker-nice", type=int, default=0,
                        help="run the inference processes at this nice level (e.g. 10), so renders "
                             "yield the shared cores to the API, as separate nodes would")
    parser.add_argument("--drain-timeout", type=float, default=600.0,
                        help="after the load phase, how long accepted jobs may take to end")
    args = parser.parse_args(argv)
    plan = Plan(args.clients, args.seconds, args.poll, args.drain_timeout)
    with tempfile.TemporaryDirectory(prefix="lipsync-load-") as tmp:
        inputs = make_inputs(Path(tmp) / "inputs")
        with ProcessStack(Path(tmp) / "stack", workers=args.workers, worker_nice=args.worker_nice) as stack:
            keys = create_keys(stack.redis_url, plan.clients + 1)
            uploader = keys.pop()
            auth = {"Authorization": f"Bearer {uploader}"}
            with httpx.Client(base_url=stack.base_url, headers=auth) as http:
                form = {name: http.post("/api/v1/files", content=path.read_bytes()).json()["url"]
                        for name, path in inputs.items()}
            warm_up(stack.base_url, uploader, form, jobs=2 * args.workers)
            with MemoryWatch(stack.pids()) as memory:
                before = memory.sample()
                results, elapsed = uvloop_run(run_load(stack.base_url, keys, form, plan))
                after = memory.sample()
        report(plan, args.workers, results, elapsed, memory, before, after)
    if args.worker_nice:
        print(f"(inference processes at nice {args.worker_nice})")
    ok = results.outcomes["unfinished"] == 0 and results.outcomes["completed"] == results.accepted
    print("\nevery accepted job completed" if ok else "\nSOME ACCEPTED JOBS DID NOT COMPLETE")
    return 0 if ok else 1


def uvloop_run(main: object) -> tuple[Results, float]:
    """The load generator on uvloop when installed: less of the shared cores spent on the client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
