"""A real Triton Inference Server on this machine, serving `triton_models/`: `lipsync triton`,
`lipsync dev --triton` and the tests start it through `TritonServer`.

The binary is the `tritonserver` 2.51 bundled in the `nvidia-pytriton` wheel. Its bundle holds
only the Python backend, whose stub is built once per Python version, so starting it takes:
- a backend directory of symlinks (`libtriton_python.so`, `triton_python_backend_utils.py`, the
  stub for this interpreter's version). Symlinks, not copies: a copied stub hangs the server,
  which is also why start-up always waits with a timeout;
- this environment's `bin` first on `PATH`, so the stub's embedded Python finds the packages
  of this venv (ONNX Runtime), and this interpreter's `LIBDIR` first on `LD_LIBRARY_PATH`, so the
  stub loads this interpreter's libpython rather than the system's (mixing them fails);
- explicit model control, loading every `<model>/config.pbtxt` of the repository, so the
  `production/` variant kept beside them (NVIDIA's container, native ONNX Runtime on GPU) is
  not taken for a model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from pathlib import Path
from types import TracebackType

from services.devtools.redis_server import free_port
from services.engine.triton_repository import model_repository

TRITON_MODELS = model_repository()  # the repository's triton_models/, or its installed copy
SHARED_MEMORY = Path("/dev/shm")
START_TIMEOUT = 60.0  # loads in 3-7 s here; slower on a busy machine
EXIT_TIMEOUT = 10  # seconds Triton waits for in-flight requests on SIGTERM
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no HTTP proxy


class TritonStartError(RuntimeError):
    """The server exited or did not become ready in time; the message ends with its log."""


def pytriton_home() -> Path:
    """`pytriton/tritonserver` inside the installed wheel (found without importing pytriton)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nvidia-pytriton package is not installed: pip install nvidia-pytriton")
    return Path(next(iter(spec.submodule_search_locations))) / "tritonserver"


def model_names(repository: Path) -> list[str]:
    """Every model of a repository: each folder holding a config.pbtxt."""
    return sorted(d.name for d in repository.iterdir() if (d / "config.pbtxt").is_file())


def make_backend_dir(into: Path, home: Path | None = None) -> Path:
    """`into/python/` linking the Python backend and this Python version's stub."""
    home = home or pytriton_home()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = home / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise FileNotFoundError(f"nvidia-pytriton has no Python backend stub for Python {version}")
    python = into / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in (home / "backends" / "python" / "libtriton_python.so",
                   home / "backends" / "python" / "triton_python_backend_utils.py", stub):
        link = python / source.name
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return into


def server_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join(p for p in (scripts, env.get("PATH", "")) if p)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    return env


class TritonServer:
    """`with TritonServer() as triton: triton.grpc_address` runs tritonserver for the block.

    Ports left at 0 are picked free. `start()` after `stop()` (or `kill()`) starts it again on
    the same ports, as a restarted server would come back at the same address.
    """

    def __init__(self, repository: Path = TRITON_MODELS, grpc_port: int = 0, http_port: int = 0,
                 metrics_port: int = 0, host: str = "127.0.0.1", log_file: Path | None = None,
                 inherit_output: bool = False, avoid_ports: Collection[int] = ()) -> None:
        self.repository = Path(repository).resolve()
        self.grpc_port = grpc_port or free_port(avoid_ports)
        self.http_port = http_port or free_port({*avoid_ports, self.grpc_port})
        self.metrics_port = metrics_port or free_port({*avoid_ports, self.grpc_port, self.http_port})
        self.host = host
        self.inherit_output = inherit_output  # `lipsync triton`: Triton logs to the terminal
        self._log_file = log_file
        self._work: Path | None = None  # backend links (and the log, by default); made on start
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def work_dir(self) -> Path:
        if self._work is None:
            self._work = Path(tempfile.mkdtemp(prefix="lipsync-triton-"))
        return self._work

    @property
    def log_file(self) -> Path:
        return self._log_file or self.work_dir / "tritonserver.log"

    @property
    def grpc_address(self) -> str:
        return f"{_local(self.host)}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{_local(self.host)}:{self.http_port}"

    @property
    def shm_prefix(self) -> str:
        """Names of the Python backend's shared-memory regions: unique per server, since
        several may run on one host, and known, so a killed server's can be removed."""
        return f"lipsync_{os.getpid()}_{self.grpc_port}_"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        home = pytriton_home()
        backends = make_backend_dir(self.work_dir / "backends", home)
        return [
            str(home / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *(f"--load-model={name}" for name in model_names(self.repository)),
            "--disable-auto-complete-config",
            f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}",
            f"--http-address={self.host}", f"--http-port={self.http_port}",
            f"--metrics-address={self.host}", f"--metrics-port={self.metrics_port}",
            f"--exit-timeout-secs={EXIT_TIMEOUT}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]

    def start(self, timeout: float = START_TIMEOUT) -> TritonServer:
        if self.running():
            return self
        command = self.command()
        if not self.inherit_output:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        output = None if self.inherit_output else self.log_file.open("ab")
        try:
            # A session of its own: a Ctrl-C at the terminal reaches us, and we stop Triton
            # and its backend stubs (one process group) in order.
            self._process = subprocess.Popen(command, env=server_environment(), stdout=output,
                                             stderr=subprocess.STDOUT if output else None,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if output is not None:
                output.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise TritonStartError(f"tritonserver exited with code {code}{self._log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.1)
        raise TritonStartError(f"tritonserver was not ready within {timeout:.0f} s{self._log_tail()}")

    def is_ready(self) -> bool:
        """Server up and every model loaded (Triton's strict readiness), over HTTP."""
        try:
            with _DIRECT.open(f"{self.http_url}/v2/health/ready", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self) -> int:
        """Block until the server exits on its own; its exit code."""
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout: float = EXIT_TIMEOUT + 5) -> None:
        """SIGTERM: Triton finishes in-flight requests, unloads, exits; killed if it lingers."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None

    def kill(self) -> None:
        """SIGKILL to the server and its backend stubs at once (also how tests crash it)."""
        if self._process is None:
            return
        if self._process.returncode is None:  # not reaped yet, so the group id is still ours
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None
        self._remove_shared_memory()  # a killed server leaves its regions behind

    def _remove_shared_memory(self) -> None:
        for region in SHARED_MEMORY.glob(f"{self.shm_prefix}*"):
            region.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop, and remove the work directory (with the default log)."""
        self.stop()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _log_tail(self, lines: int = 20) -> str:
        if self.inherit_output or not self.log_file.is_file():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "; its log ends:\n" + "\n".join(tail)

    def __enter__(self) -> TritonServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _local(host: str) -> str:
    """Where to reach a server bound to `host` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def serve_triton(grpc_port: int = 0, host: str = "127.0.0.1", repository: Path = TRITON_MODELS,
                 timeout: float = START_TIMEOUT) -> int:
    """`lipsync triton`: run Triton until SIGTERM/SIGINT (then stop it cleanly) or until it
    exits by itself (its exit code). Triton's own log goes to this process's output."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = TritonServer(repository, grpc_port=grpc_port, host=host, inherit_output=True)
    with server:
        print(f"lipsync triton: gRPC at {server.grpc_address} (HTTP {server.http_url}, metrics port "
              f"{server.metrics_port}); models: {', '.join(model_names(server.repository))}", flush=True)
        print(f"  use it with LIPSYNC_TRITON_URL={server.grpc_address}", flush=True)
        while not stop.wait(0.5):
            if not server.running():
                code = server.wait()
                print(f"lipsync triton: tritonserver exited with code {code}", file=sys.stderr)
                return code or 1
        print("lipsync triton: stopping", flush=True)
    return 0
