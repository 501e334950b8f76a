"""Run a command in a network namespace of its own, with only loopback up.

A browser makes background requests of its own (updates, safe browsing, fonts); the console's
browser tests and screenshots run inside a fresh namespace so nothing can leave the machine,
while the whole stack they start still talks over that namespace's loopback. Needs root (CI
runs as root) and util-linux's `unshare`, iproute2's `ip`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

MARK = "LIPSYNC_IN_NETNS"  # set inside, so a re-run knows it is there


def inside() -> bool:
    return os.environ.get(MARK) == "1"


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root to make a network namespace (unshare -n)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (util-linux / iproute2)"
    return None


def run_isolated(argv: Sequence[str], timeout: float,
                 cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """`argv` in a new network namespace with `lo` up; its output captured."""
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(["unshare", "--net", "sh", "-c", script, "sh", *argv], cwd=cwd, timeout=timeout,
                          env={**os.environ, MARK: "1"}, capture_output=True, text=True)
