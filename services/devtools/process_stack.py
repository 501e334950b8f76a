"""The production processes on loopback, for the load bench and the fault tests.

    with ProcessStack(data_dir, workers=2) as stack:
        stack.base_url, stack.redis_url, stack.jobs_addr, stack.pids()

A redis-server (AOF, `RedisServer`), then `lipsync serve jobs`, `lipsync serve inference` (one
process per worker), `lipsync serve webhooks` and `lipsync serve proxy`, each in its own process
configured only by `LIPSYNC_*` variables, as a container would be. The proxy is given no Redis
setting at all, as in production. Every port is a free one on 127.0.0.1; each
process logs to `<data_dir>/logs/<name>.log`. Any single process can be stopped, killed
(SIGKILL) or started again on the same port, so tests can break the stack one part at a time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from services.devtools.redis_server import RedisServer, free_port

STOP_TIMEOUT = 40.0  # SIGTERM lets a worker finish its job; past this it is killed


class ProcessStack:
    """`env` adds or overrides `LIPSYNC_*` variables of every service process (e.g.
    `{"LIPSYNC_CLAIM_IDLE_SECONDS": "1"}`)."""

    def __init__(self, data_dir: Path, *, workers: int = 1, env: Mapping[str, str] | None = None,
                 worker_nice: int = 0, live: bool = False) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.logs = self.data_dir / "logs"
        # Every port is chosen before anything binds it, so each choice avoids the earlier ones.
        self._ports: set[int] = set()
        self.redis = RedisServer(self.data_dir / "redis", self._new_port())
        self.proxy_port = self._new_port()
        self.jobs_addr = f"127.0.0.1:{self._new_port()}"
        self.live = live  # also run `lipsync serve live` (live WebRTC sessions)
        self.live_addr = f"127.0.0.1:{self._new_port()}"
        self.worker_names = [f"inference-{i}" for i in range(workers)]
        self._inference_ports = {name: self._new_port() for name in self.worker_names}
        self._extra_env = dict(env or {})
        self.worker_nice = worker_nice  # CPU priority of the inference processes (nice -n)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def env(self, name: str) -> dict[str, str]:
        """The environment of service process `name` ("jobs", "proxy", "webhooks", "inference-<i>")."""
        signing = self.data_dir / "signing.key"
        if not signing.exists():
            signing.parent.mkdir(parents=True, exist_ok=True)
            signing.write_text(os.urandom(24).hex())
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
        env.update({
            "LIPSYNC_REDIS_URL": self.redis.url,
            "LIPSYNC_JOBS_ADDR": self.jobs_addr,
            "LIPSYNC_LIVE_ADDR": self.live_addr,
            "LIPSYNC_PUBLIC_URL": self.base_url,
            "LIPSYNC_DATA_DIR": str(self.data_dir),
            "LIPSYNC_SIGNING_KEY": signing.read_text(),  # proxy and job service sign alike
            "LIPSYNC_PROXY_HOST": "127.0.0.1",
            "LIPSYNC_PROXY_PORT": str(self.proxy_port),
            "LIPSYNC_INFERENCE_ADDR": f"127.0.0.1:{self._inference_ports.get(name) or self._new_port()}",
        })
        env.update(self._extra_env)
        if name == "proxy":
            del env["LIPSYNC_REDIS_URL"]  # the public edge talks gRPC only
        return env

    # -- the whole stack -------------------------------------------------------------------

    def start(self, ready_timeout: float = 90.0) -> ProcessStack:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        try:
            self.start_process("jobs")
            wait_for_port(self.jobs_addr, ready_timeout)
            for name in self.worker_names:
                self.start_process(name)
            self.start_process("webhooks")
            if self.live:
                self.start_process("live")
                wait_for_port(self.live_addr, ready_timeout)
            self.start_process("proxy")
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # The proxy first (no new work), then workers, webhooks, the job service, Redis last.
        for name in ["proxy", *self.worker_names, "webhooks", "jobs"]:
            self.stop_process(name)
        for name in list(self._processes):
            self.stop_process(name)
        self.redis.stop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the proxy's /readyz answers 200 (the job service behind it is serving)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive("proxy")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the stack was not ready within {timeout:.0f} s; logs in {self.logs}")

    # -- one process -----------------------------------------------------------------------

    def start_process(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or start again) service process `name` on its own port."""
        if name in self._processes and self._processes[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        service = "inference" if name.startswith("inference") else name
        command = [sys.executable, "-m", "services.cli", "serve", service]
        if service == "inference" and self.worker_nice:
            # Renders below the API in the CPU's queue, as separate nodes would keep them.
            command = ["nice", "-n", str(self.worker_nice), *command]
        log = (self.logs / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(command, env=self.env(name), stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()  # the child holds its own descriptor
        self._processes[name] = process
        return process

    def _new_port(self) -> int:
        port = free_port(self._ports)
        self._ports.add(port)
        return port

    def add_worker(self) -> str:
        """One more inference process; returns its name."""
        name = f"inference-{len(self._inference_ports)}"
        self._inference_ports[name] = self._new_port()
        self.worker_names.append(name)
        self.start_process(name)
        return name

    def stop_process(self, name: str, kill: bool = False, timeout: float = STOP_TIMEOUT) -> None:
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
            process.wait()
        else:
            terminate(process, timeout)

    def running(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def pids(self) -> dict[str, int]:
        """Running processes by name, Redis included."""
        found = {name: p.pid for name, p in self._processes.items() if p.poll() is None}
        redis_process = getattr(self.redis, "_process", None)
        if redis_process is not None and redis_process.poll() is None:
            found["redis"] = redis_process.pid
        return found

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _check_alive(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}:\n{self.log_tail(name)}")

    def __enter__(self) -> ProcessStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def terminate(process: subprocess.Popen[str] | subprocess.Popen[bytes],
              timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (the graceful stop every role implements), then SIGKILL past `timeout`."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_port(address: str, timeout: float = 30.0) -> None:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {address} after {timeout:.0f} s")
