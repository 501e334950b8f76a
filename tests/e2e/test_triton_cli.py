"""The Triton commands as an operator runs them: `lipsync triton` on its own, `lipsync dev` pointed
at it by LIPSYNC_TRITON_URL, a job through the REST API, Triton's statistics read afterwards; and
`lipsync dev --triton` starting (and stopping) a Triton of its own."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import tritonclient.grpc as triton_grpc
from waiting import wait_until

from services.devtools import demo_stack, samples
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow


def _start(args: list[str], until: str, env: dict[str, str] | None = None,
           timeout: float = 90) -> tuple[subprocess.Popen[str], str]:
    """A `lipsync` command, its output read up to the line holding `until` (then drained)."""
    process = subprocess.Popen([sys.executable, "-m", "services.cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    lines: list[str] = []

    def next_line() -> str:
        line = process.stdout.readline() if process.stdout else ""
        assert line, f"{args[0]} exited:\n" + "".join(lines[-30:])
        lines.append(line)
        return line

    try:
        wait_until(next_line, until=lambda line: until in line, timeout=timeout, interval=0,
                   what=f"{until!r} from {args[0]}", context=lambda: "".join(lines[-30:]))
    except AssertionError:
        process.kill()
        raise
    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    return process, "".join(lines)


def _stop(process: subprocess.Popen[str], timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def test_lipsync_triton_then_dev_on_it_then_a_rest_job(tmp_path: Path) -> None:
    port = free_port()
    triton, said = _start(["triton", "--port", str(port)], until="LIPSYNC_TRITON_URL=")
    try:
        address = re.search(r"gRPC at (\S+)", said)
        assert address and address.group(1) == f"127.0.0.1:{port}"
        env = {**os.environ, "LIPSYNC_TRITON_URL": address.group(1)}
        stack, text = _start(["dev", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
                             until="Local development", env=env)
        try:
            assert f"Models:  Triton at {address.group(1)}" in text
            base = re.search(r"API at (\S+)", text)
            key = re.search(r"API key: (sk_\S+)", text)
            assert base and key
            face = samples.save_image(tmp_path / "face.png", samples.grace_hopper())
            samples.save_speech(tmp_path / "speech.wav", "Mop the bump, Bob.")
            with httpx.Client(base_url=base.group(1), timeout=30,
                              headers={"Authorization": f"Bearer {key.group(1)}"}) as client:
                demo_stack.wait_ready(client)
                job_id = demo_stack.submit(client, "lipsync-image", {
                    "image": demo_stack.upload(client, face),
                    "audio": demo_stack.upload(client, tmp_path / "speech.wav")})
                job = demo_stack.poll(client, job_id)
        finally:
            assert _stop(stack) == 0
        assert job["status"] == "completed", job["error"]
        with triton_grpc.InferenceServerClient(address.group(1)) as triton_client:
            stats = triton_client.get_inference_statistics("mouth_shapes", as_json=True)
        assert int(stats["model_stats"][0]["inference_count"]) >= 1
    finally:
        code = _stop(triton)
    assert code == 0
    assert not _listening(f"127.0.0.1:{port}")


def test_lipsync_dev_triton_starts_and_stops_its_own(tmp_path: Path) -> None:
    port = free_port()
    stack, text = _start(["dev", "--triton", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                         until="Local development")
    try:
        address = re.search(r"Models:  Triton at (\S+) \(started here", text)
        assert address, text
        assert _listening(address.group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            demo_stack.wait_ready(client)
    finally:
        assert _stop(stack) == 0
    assert not _listening(address.group(1))
    assert (tmp_path / "data" / "triton" / "tritonserver.log").stat().st_size > 0
