"""The whole stack as a client sees it: `lipsync dev` in its own process, the REST API over HTTP,
a webhook receiver on loopback, real rendering. This is `make demo`, checked."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from services.devtools import demo_stack
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow


def test_three_endpoints_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_stack.run(tmp_path, free_port()) == 0
    table = capsys.readouterr().out
    for model in ("lipsync-image", "lipsync-video", "lipsync-image-multi"):
        with av.open(str(tmp_path / f"{model}.mp4")) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert container.streams.audio[0].codec_context.name == "aac"
        assert model in table
    assert "webhook" in table and table.count("completed") >= 3


def test_failed_job_shape_and_auth_over_http(tmp_path: Path) -> None:
    """A bad input ends as a failed job with a readable error; the shape is the documented one."""
    import httpx

    inputs = demo_stack.make_inputs(tmp_path / "inputs")
    process, base, key, _ = demo_stack.start_stack(free_port(), tmp_path / "data")
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            demo_stack.wait_ready(c)
            assert httpx.get(f"{base}/api/v1/jobs/x").status_code == 401
            wav = demo_stack.upload(c, inputs["image"])
            job_id = demo_stack.submit(c, "lipsync-image", {"image": wav, "audio": wav})
            job = demo_stack.poll(c, job_id)
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert list(job)[:7] == ["id", "model", "status", "output", "error", "executionTime", "timings"]
    assert job["status"] == "failed" and job["output"] is None
    assert job["error"] == "The image URL does not point to an image (it looks like a WAV audio file)"
    assert json.dumps(job)  # plain JSON all the way down
