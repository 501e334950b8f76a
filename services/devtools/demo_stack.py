"""`make demo`: the three endpoints end to end through the whole stack, as a client sees it.

Starts `lipsync dev` (its own process: Redis, job service, worker, proxy), uploads sample inputs
(public-domain faces from registry packages, speech synthesised with espeak-ng) through
`POST /api/v1/files`, submits the image job with a webhook to a receiver on loopback and the
others by polling, saves the outputs to ./demo-out/, prints a table, stops the stack and exits
nonzero if anything failed. The video job dubs the image job's own output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from services.devtools.engine_demo import make_inputs
from services.devtools.process_stack import terminate
from services.devtools.redis_server import free_port

POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 600.0


class WebhookReceiver:
    """The seed's receiver, on loopback: records each POSTed job, answers {"received": true}."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.arrived.set()
                reply = b'{"received": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/lipsync"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_stack(port: int, data_dir: Path) -> tuple[subprocess.Popen[str], str, str, str]:
    """`lipsync dev` in its own process; returns it, the base URL, the API key, the webhook secret."""
    process, base, key, secret, _ = start_stack_with_login(port, data_dir)
    return process, base, key, secret


def start_stack_with_login(port: int, data_dir: Path
                           ) -> tuple[subprocess.Popen[str], str, str, str, tuple[str, str, str]]:
    """`start_stack`, plus the web console's (URL, email, password) that `lipsync dev` printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("lipsync dev exited:\n" + "".join(lines))
        lines.append(line)
        print(f"  | {line.rstrip()}")
        if "Local development" in line:
            break
    text = "".join(lines)
    base = re.search(r"API at (\S+)", text)
    key = re.search(r"API key: (sk_\S+)", text)
    secret = re.search(r"Webhook secret: (whsec_\S+)", text)
    console = re.search(r"Console: (\S+)\s+\(email (\S+), password (\S+)\)", text)
    if not (base and key and secret and console):
        raise RuntimeError("could not read the base URL and keys from lipsync dev:\n" + text)
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    login = (console.group(1), console.group(2), console.group(3))
    return process, base.group(1), key.group(1), secret.group(1), login


def wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the stack did not become ready within 60 s")


def upload(client: httpx.Client, path: Path) -> str:
    reply = client.post("/api/v1/files", content=path.read_bytes(),
                        headers={"Content-Type": "application/octet-stream"})
    reply.raise_for_status()
    return str(reply.json()["url"])


def submit(client: httpx.Client, model: str, form: dict[str, Any], webhook: str | None = None) -> str:
    body: dict[str, Any] = {"formState": form}
    if webhook:
        body["webhook"] = webhook
    reply = client.post(f"/api/v1/{model}", json=body)
    reply.raise_for_status()
    return str(reply.json()["id"])


def poll(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] != "processing":
            return job
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"job {job_id} still processing after {TIMEOUT_SECONDS:.0f} s")


def run(out: Path, port: int, keep_running: bool = False) -> int:
    """The demo; with `keep_running`, the stack stays up afterwards (until Ctrl-C) so the web
    console can be tried with the login printed at the end."""
    from services.webhooks.signing import verify

    inputs = make_inputs(out / "inputs")
    receiver = WebhookReceiver()
    process, base, key, secret, (console, email, password) = start_stack_with_login(port, out / "data")
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                          timeout=60) as client:
            wait_ready(client)
            url = {name: upload(client, inputs[name])
                   for name in ("astronaut", "pair", "image", "dub", "left", "right")}
            submit(client, "lipsync-image",
                              {"image": url["astronaut"], "audio": url["image"], "seed": 7},
                              webhook=receiver.url)
            multi_id = submit(client, "lipsync-image-multi",
                              {"image": url["pair"], "left_audio": url["left"],
                               "right_audio": url["right"], "order": "left_right"})
            if not receiver.arrived.wait(TIMEOUT_SECONDS):
                raise TimeoutError("the image job's webhook never arrived")
            headers, body = receiver.received[0]
            verify(secret, headers, body)  # raises if the signature is wrong
            image_job = json.loads(body)
            jobs.append(("lipsync-image", "webhook", image_job))
            if image_job["status"] == "completed":
                video_id = submit(client, "lipsync-video",
                                  {"video": image_job["output"], "audio": url["dub"]})
                jobs.append(("lipsync-video", "polling", poll(client, video_id)))
            jobs.append(("lipsync-image-multi", "polling", poll(client, multi_id)))
            for model, _, job in jobs:
                if job["status"] == "completed":
                    target = out / f"{model}.mp4"
                    target.write_bytes(httpx.get(job["output"], timeout=60).content)
                    job["file"] = str(target)
        _print_table(jobs)
        print(f"\nWeb console: {console}\n  email:    {email}\n  password: {password}\n"
              f"  API key:  {key}")
        if keep_running:
            print("The stack keeps running for the console; Ctrl-C stops it.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                process.wait()
    finally:
        terminate(process, timeout=60)
        receiver.close()
    ok = len(jobs) == 3 and all(job["status"] == "completed" for _, _, job in jobs)
    print("\nall three endpoints completed" if ok else "\nSOMETHING FAILED")
    return 0 if ok else 1


def _print_table(jobs: list[tuple[str, str, dict[str, Any]]]) -> None:
    print(f"\n{'id':<36}  {'model':<19}  {'via':<7}  {'status':<9}  {'executionTime':>13}  output file")
    for model, via, job in jobs:
        print(f"{job['id']:<36}  {model:<19}  {via:<7}  {job['status']:<9}  "
              f"{job['executionTime'] or '-':>13}  {job.get('file') or job['error']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--port", type=int, default=0, help="proxy port (default: a free one)")
    parser.add_argument("--keep-running", action=argparse.BooleanOptionalAction, default=None,
                        help="keep the stack up afterwards for the web console (default: when "
                             "run from a terminal)")
    args = parser.parse_args(argv)
    keep = sys.stdin.isatty() if args.keep_running is None else args.keep_running
    return run(args.out, args.port or free_port(), keep_running=keep)


if __name__ == "__main__":
    sys.exit(main())
