"""Run a command where WebRTC can only ever reach loopback: a fresh network namespace.

(The console's browser tests have their own namespace helper; WebRTC needs one more thing, the
second loopback address below.)

aioice leaves 127.0.0.1 out of its host candidates and pairs the machine's own addresses
instead, which tests must never send to. In a new namespace (`unshare -n`, root only) the only
interface is `lo`; it is brought up with a second address, 127.0.0.2, which aioice does offer,
so both peers meet on loopback and no packet can leave the machine.
"""

from __future__ import annotations

import os
import shutil

SCRIPT = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def loopback_only(argv: list[str]) -> list[str]:
    """`argv`, run in a new network namespace holding only loopback (127.0.0.1 and .2)."""
    return ["unshare", "--net", "sh", "-c", SCRIPT, "sh", *argv]
