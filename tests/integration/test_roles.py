"""The roles as separate processes (`ProcessStack`): the proxy, the public edge, starts and serves
with no Redis setting and never loads a Redis client; webhooks are delivered by their own role,
`lipsync serve webhooks`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from faults_stack import LOCAL, StackClient, auth, webhook_receiver
from waiting import wait_until

from services.devtools.process_stack import ProcessStack
from services.store.connection import connect
from services.store.jobs import JobStore
from services.webhooks.signing import verify

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


def _fail(redis_url: str, job_id: str, error: str) -> None:
    """End the job as a worker would (no worker runs here)."""
    async def fail() -> None:
        redis = connect(redis_url)
        try:
            store = JobStore(redis)
            await store.fail(await store.get(job_id), error)
        finally:
            await redis.aclose()

    asyncio.run(fail())


def test_the_proxy_needs_no_redis_and_webhooks_are_their_own_role(tmp_path: Path) -> None:
    # Python logs every module each process imports (stderr, into its log).
    env = {**LOCAL, "PYTHONPROFILEIMPORTTIME": "1"}
    with webhook_receiver() as receiver, ProcessStack(tmp_path / "stack", workers=0, env=env) as stack:
        assert not [name for name in stack.env("proxy") if "REDIS" in name]
        client = StackClient(stack)
        try:
            (key,) = client.new_keys(1)
            image = client.http.post("/api/v1/files", content=PNG, headers=auth(key)).json()["url"]
            reply = client.submit(key, {"image": image, "audio": image}, receiver.url("/hook"))
            assert reply.status_code == 200, reply.text
            job_id = reply.json()["id"]
            _fail(stack.redis_url, job_id, "No face found in the image")
            wait_until(lambda: job_id in receiver.delivered(), timeout=30, what="the webhook",
                       context=lambda: stack.log_tail("webhooks"))
            (sent,) = receiver.answered()
            verify(key.webhook_secret, sent.headers, sent.body)
            polled = client.http.get(f"/api/v1/jobs/{job_id}", headers=auth(key)).json()
            assert receiver.delivered()[job_id] == polled and polled["status"] == "failed"
        finally:
            client.close()
        stack.stop_process("proxy")
        imported = re.findall(r"^import time:.*\|\s*([\w.]+)\s*$", (stack.logs / "proxy.log").read_text(),
                              re.MULTILINE)
        assert "starlette.applications" in imported and "proxy.files" in imported
        assert not [name for name in imported if name.split(".")[0] in ("redis", "hiredis")]
        assert "services.webhooks.dispatcher" not in imported
