"""The job service's answer metadata that becomes HTTP response headers.

Generic, not per route: whatever a call's initial or trailing metadata holds under one of these
names is copied to the HTTP response, on success and on error alike (a 429 still says how much
budget is left, and when it is back).
"""

from __future__ import annotations

from collections.abc import Iterable

PASSED = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "idempotent-replayed")

Metadata = Iterable[tuple[str, str | bytes]] | None


def passed_headers(*metadata: Metadata) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pairs in metadata:
        for key, value in pairs or ():
            if key in PASSED and isinstance(value, str):
                headers[key] = value
    return headers
