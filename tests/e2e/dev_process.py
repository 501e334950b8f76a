"""`lipsync dev` run as a user runs it, in its own process, for the tests that need one."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from waiting import wait_until

from services.devtools.process_stack import terminate


@contextmanager
def running_dev(command: list[str], port: int, cwd: Path, env: dict[str, str],
                timeout: float = 60.0, banner: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """Start `command` (a `lipsync dev --port <port>` invocation), wait for its banner and its
    /readyz, yield (base URL, API key), and stop it with SIGTERM when the block ends. The
    banner's lines are appended to `banner` if given (the console's login is among them)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=cwd, env=env)
    assert process.stdout is not None
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Local development" in line:
                break
        text = "".join(lines)
        if banner is not None:
            banner.extend(lines)
        key = next((w for w in text.split() if w.startswith("sk_")), None)
        assert key, text
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, text + (process.stdout.read() if process.stdout else "")
            return _ready(base)

        wait_until(ready, timeout=timeout, interval=0.1, what=f"{base}/readyz", context=lambda: text)
        yield base, key
    finally:
        terminate(process, timeout=60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
