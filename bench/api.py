"""API speed: polling and submitting through the proxy, against a bare Starlette app that serves
the same job JSON straight from Redis, measured in the same run.

The stack runs as production does: `lipsync serve jobs` and `lipsync serve proxy` in their own
processes on one redis-server; the bare app is one uvicorn process on the same Redis. The load
comes from this process: N concurrent keep-alive HTTP/1.1 clients on loopback for a fixed time.

    .venv/bin/python bench/api.py [--clients 64] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from services.devtools.redis_server import RedisServer, free_port


def bare_app(redis_url: str) -> Any:
    """GET /api/v1/jobs/{id}: the job hash as the public JSON, no auth, no gRPC."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from services.store.connection import connect

    redis = connect(redis_url)

    async def job(request: Request) -> JSONResponse:
        h = await redis.hgetall(f"lipsync:job:{request.path_params['id']}")
        if not h:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse({
            "id": h["id"], "model": h["model"], "status": h["status"], "output": None,
            "error": h.get("error", ""), "executionTime": None, "timings": None})

    return Starlette(routes=[Route("/api/v1/jobs/{id}", job)])


@contextmanager
def process(args: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


async def one_client(port: int, request: bytes, until: float, latencies: list[float],
                     errors: list[int]) -> None:
    """A keep-alive client sending `request` back to back, timing each answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                errors.append(1)
    finally:
        writer.close()


async def load(port: int, request: bytes, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(one_client(port, request, until, latencies, errors)
                           for _ in range(clients)))
    elapsed = time.perf_counter() - started
    lat = np.array(latencies) * 1000
    return {"rps": len(lat) / elapsed, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "errors": float(len(errors)), "n": float(len(lat))}


def run(main: Any) -> Any:
    """The load generator on uvloop when installed: less of the two cores spent on the client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def http_request(method: str, path: str, key: str = "", body: dict[str, object] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def prepare(redis_url: str) -> tuple[str, str]:
    """An account with plenty of credits and one finished job to poll."""
    from services.store.accounts import AccountStore
    from services.store.connection import connect
    from services.store.jobs import JobStore

    redis = connect(redis_url)
    key = await AccountStore(redis).create_key("bench", credits=10**9)
    jobs = JobStore(redis)
    job = await jobs.submit(key.account_id, "lipsync-image", {"image": "https://e.com/i.png",
                            "audio": "https://e.com/a.wav"}, "", "480p", 1, reserve=10)
    await jobs.complete(job, f"outputs/{job.id}.mp4", 1234, {"render": 1.0})
    await redis.aclose()
    return key.api_key, job.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # internal: run the bare app
    args = parser.parse_args()
    if args.bare:
        import uvicorn

        redis_url, port = args.bare.rsplit(",", 1)
        uvicorn.run(bare_app(redis_url), host="127.0.0.1", port=int(port), log_level="warning",
                    access_log=False)
        return 0

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        key, job_id = asyncio.run(prepare(redis.url))
        jobs_port, proxy_port, bare_port = free_port(), free_port(), free_port()
        env = {"LIPSYNC_REDIS_URL": redis.url, "LIPSYNC_JOBS_ADDR": f"127.0.0.1:{jobs_port}",
               "LIPSYNC_PROXY_PORT": str(proxy_port), "LIPSYNC_DATA_DIR": str(Path(tmp) / "data"),
               # One key drives all the load: per-key budgets and the job cap off.
               "LIPSYNC_RATE_LIMIT_SUBMIT_PER_MINUTE": "0", "LIPSYNC_RATE_LIMIT_READ_PER_MINUTE": "0",
               "LIPSYNC_MAX_CONCURRENT_JOBS": "0"}
        lipsync = [sys.executable, "-m", "services.cli", "serve"]
        poll = http_request("GET", f"/api/v1/jobs/{job_id}", key)
        submit = http_request("POST", "/api/v1/lipsync-image", key, {"formState": {
            "image": "https://example.com/face.png", "audio": "https://example.com/a.wav"}})
        results = {}
        with process([sys.executable, __file__, "--bare", f"{redis.url},{bare_port}"], {}, bare_port):
            results["bare app: poll"] = run(
                load(bare_port, http_request("GET", f"/api/v1/jobs/{job_id}"), args.clients,
                     args.seconds))
        proxy_env = {k: v for k, v in env.items() if k != "LIPSYNC_REDIS_URL"}  # gRPC only
        with process([*lipsync, "jobs"], env, jobs_port), process([*lipsync, "proxy"], proxy_env, proxy_port):
            results["proxy: poll"] = run(load(proxy_port, poll, args.clients, args.seconds))
            results["proxy: submit"] = run(load(proxy_port, submit, args.clients, args.seconds))
    bare_rps = results["bare app: poll"]["rps"]
    print(f"{args.clients} concurrent keep-alive clients, {args.seconds:.0f} s each, loopback\n")
    print(f"{'case':<16} {'req/s':>8} {'vs bare':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<16} {r['rps']:8.0f} {r['rps'] / bare_rps:8.2f} {r['p50']:7.1f} "
              f"{r['p99']:7.1f} {r['errors']:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
