"""Run a command in a network namespace of its own, where only loopback exists.

Two kinds of tests must never send a packet off the machine, and both run inside a fresh
namespace (`unshare -n`: root only, so CI runs as root; util-linux's `unshare`, iproute2's `ip`):
- a browser makes background requests of its own (updates, safe browsing, fonts): the console's
  browser tests and screenshots;
- WebRTC's ICE (aioice) leaves 127.0.0.1 out of its host candidates and pairs the machine's own
  addresses instead: the live tests and `bench/live.py`. So `lo` gets a second address,
  127.0.0.2, which aioice does offer, and both peers meet on loopback.
The whole stack a test starts inside still talks over that namespace's loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

MARK = "LIPSYNC_IN_NETNS"  # set inside, so a re-run knows it is there
SCRIPT = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'


def inside() -> bool:
    return os.environ.get(MARK) == "1"


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to make a network namespace (unshare -n; CI runs as root)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (util-linux / iproute2)"
    return None


def loopback_only(argv: Sequence[str]) -> list[str]:
    """`argv`, run in a new network namespace holding only loopback (127.0.0.1 and .2)."""
    return ["env", f"{MARK}=1", "unshare", "--net", "sh", "-c", SCRIPT, "sh", *argv]


def run_isolated(argv: Sequence[str], timeout: float,
                 cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """`argv` in a new loopback-only namespace; its output captured."""
    return subprocess.run(loopback_only(argv), cwd=cwd, timeout=timeout, capture_output=True, text=True)
