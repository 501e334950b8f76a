"""Signing webhooks the Standard Webhooks way (https://www.standardwebhooks.com/).

Every webhook request carries three headers:

    webhook-id:         msg_...        the delivery's id, the same on every retry of it
    webhook-timestamp:  1717000000     unix seconds when this attempt was signed
    webhook-signature:  v1,<base64>    HMAC-SHA256 of "<id>.<timestamp>.<body>"

The HMAC key is the account's webhook secret (`whsec_<base64>`, shown when an API key is
created): the bytes of the base64 text after `whsec_`.

What a receiver does, and what `verify` does for Python receivers:

    from services.webhooks.signing import verify, InvalidSignature
    try:
        verify("whsec_...", request.headers, raw_body)   # the body's bytes, before any JSON parsing
    except InvalidSignature:
        return 400
    job = json.loads(raw_body)

1. recompute the HMAC over the exact bytes received and compare it in constant time with each
   `v1,` signature in the header (there can be several, space-separated, while a secret rotates);
2. refuse a timestamp more than `tolerance` seconds away from its own clock (replays);
3. deduplicate on `webhook-id`: delivery is at least once, so a retry may repeat a delivery.
Any Standard Webhooks library (e.g. the `standardwebhooks` packages) verifies these too; the
signatures themselves are made by that library.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


class InvalidSignature(ValueError):
    """The request is not a genuine, fresh webhook from this service."""


def secret_bytes(secret: str) -> bytes:
    """The HMAC key behind a `whsec_...` secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not whsec_ followed by base64") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `<msg_id>.<timestamp>.<body>`, made by the `standardwebhooks`
    library (the reference implementation, so what we send is what every receiver library checks)."""
    signer = Webhook(secret_bytes(secret))
    return signer.sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())


def signature_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three headers to send with `body`, signed now (or at `timestamp`)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": signature(secret, msg_id, ts, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300,
           now: float | None = None) -> None:
    """Raise InvalidSignature unless `body` with `headers` was signed with `secret` within
    `tolerance` seconds of `now`. Header names are matched case-insensitively.

    The library's own `Webhook.verify` is not used here: its tolerance and clock are fixed (five
    minutes, the real time), which receivers and tests need to choose, and a malformed
    signature header makes it raise a bare ValueError instead of its verification error."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    given = lowered.get("webhook-signature", "")
    if not msg_id or not stamp or not given:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise InvalidSignature("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp is too far from the current time")
    raw = body.encode() if isinstance(body, str) else body
    try:
        expected = signature(secret, msg_id, timestamp, raw)
    except UnicodeDecodeError as exc:
        raise InvalidSignature("the body is not UTF-8 text") from exc
    # Compare with every v1 signature offered: a sender rotating its secret sends two.
    for candidate in given.split():
        if candidate.startswith(f"{SIGNATURE_VERSION},") and hmac.compare_digest(
                candidate.encode(), expected.encode()):
            return
    raise InvalidSignature("no webhook-signature matches the body")
