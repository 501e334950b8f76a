"""The original service's own Node.js example (node-fetch + an express webhook receiver),
pointed at `lipsync dev`: a client written for the original works against ours unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.devtools import demo_stack
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow
CLIENT = Path(__file__).with_name("seed_client")


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed on this machine")
def test_seed_client_webhook_and_polling(tmp_path: Path) -> None:
    if not (CLIENT / "node_modules" / "express").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=CLIENT, check=True,
                       capture_output=True, timeout=300)
    inputs = demo_stack.make_inputs(tmp_path / "inputs")
    process, base, key, _ = demo_stack.start_stack(free_port(), tmp_path / "data")
    try:
        import httpx

        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            demo_stack.wait_ready(c)
            image, audio = demo_stack.upload(c, inputs["hopper"]), demo_stack.upload(c, inputs["image"])
        done = subprocess.run(
            ["node", "client.mjs"], cwd=CLIENT, capture_output=True, text=True, timeout=300,
            env={**os.environ, "LIPSYNC_BASE_URL": f"{base}/api/v1", "LIPSYNC_API_KEY": key,
                 "IMAGE_URL": image, "AUDIO_URL": audio, "WEBHOOK_PORT": str(free_port())})
    finally:
        process.terminate()
        process.wait(timeout=60)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    submitted = json.loads(out.split("Submit response: ")[1].splitlines()[0])
    assert set(submitted) == {"id", "status"} and submitted["status"] == "processing"
    assert "✅ Job update received!" in out and "Status: completed" in out
    assert "Video URL: http" in out
    polled = json.loads(out.split("Polled: ")[1].splitlines()[0])
    assert polled["id"] == submitted["id"] and polled["status"] == "completed"
    assert polled["model"] == "lipsync-image" and polled["error"] == ""
    assert isinstance(polled["executionTime"], int)
