"""`Idempotency-Key` on submits: a request retried with the same key gets the first job back.

A key is the client's to choose (a UUID, say), scoped to its account and kept 24 hours, as
Stripe and the IETF draft do it. What is compared is a hash of the request as validated (model,
webhook and the form with defaults filled in), so key order or an explicit default in the JSON
does not make a retry look different; any real difference is a conflict (409).

The record is written by the submit script itself (`jobs.py`), in the same atomic step as the
job: two identical requests racing each other make one job and charge once. Only a submit that
created a job is recorded, so one refused for credits or the concurrency cap can be retried
with the same key once the account can take it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.core.errors import InvalidArgument

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Fingerprint:
    key_digest: str  # SHA-256 of the client's key: bounded and safe inside a Redis key name
    request_hash: str  # SHA-256 of the canonical request


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(key: str, request: Mapping[str, Any]) -> Fingerprint:
    """`request`: the validated request as plain JSON values."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise InvalidArgument(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                              field=HEADER)
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return Fingerprint(_sha256(key), _sha256(canonical))
