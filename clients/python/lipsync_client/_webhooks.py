"""Verifying webhooks: Standard Webhooks (https://www.standardwebhooks.com/) signatures.

Every delivery carries `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, several space-separated while a secret
rotates), keyed with the bytes of the base64 text after `whsec_` in the account's secret.
Delivery is at least once: deduplicate on `webhook-id`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from lipsync_client._errors import InvalidSignature, LipsyncError
from lipsync_client._models import Job

DEFAULT_TOLERANCE = 300  # seconds between the signature's timestamp and this clock


def sign_webhook(body: bytes | str, secret: str, msg_id: str, timestamp: int) -> str:
    """The `webhook-signature` value for `body` (for tests of a receiver)."""
    raw = body.encode() if isinstance(body, str) else body
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str, *,
                   tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> Job:
    """The delivered job, once `body` (the raw bytes received, before any JSON parsing) is shown
    to be signed with `secret` within `tolerance` seconds of now; else InvalidSignature.
    Header names match case-insensitively (any mapping: a dict, Starlette's, Flask's, ...)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    offered = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and offered):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp is too far from the current time (a replay?)")
    expected = sign_webhook(body, secret, msg_id, timestamp).encode()
    if not any(candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected)
               for candidate in offered.split()):
        raise InvalidSignature("no webhook-signature matches the body")
    raw = body.encode() if isinstance(body, str) else body
    try:
        return Job.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        raise LipsyncError("The webhook is genuine, but its body is not a job object") from None
