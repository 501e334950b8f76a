"""Standard Webhooks signatures: the signer against HMAC computed by hand, and the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pytest

from services.webhooks.signing import InvalidSignature, signature, signature_headers, verify

SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
BODY = b'{"id":"550e8400-e29b-41d4-a716-446655440000","status":"completed"}'
NOW = 1_717_000_000


def test_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    by_hand = hmac.new(bytes(range(24)), b"msg_1." + str(NOW).encode() + b"." + BODY,
                       hashlib.sha256).digest()
    assert signature(SECRET, "msg_1", NOW, BODY) == "v1," + base64.b64encode(by_hand).decode()


def test_standard_webhooks_published_vector() -> None:
    # The example in the Standard Webhooks specification's test suite.
    got = signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                    1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_verify_case_insensitively() -> None:
    headers = signature_headers(SECRET, "msg_1", BODY, timestamp=NOW)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(NOW)
    verify(SECRET, headers, BODY, now=NOW + 10)
    verify(SECRET, {k.title(): v for k, v in headers.items()}, BODY.decode(), now=NOW)


@pytest.mark.parametrize("change", ["body", "timestamp", "id", "secret", "stale", "future", "missing"])
def test_verify_rejects(change: str) -> None:
    headers = signature_headers(SECRET, "msg_1", BODY, timestamp=NOW)
    body, secret, now = BODY, SECRET, float(NOW)
    if change == "body":
        body = BODY.replace(b"completed", b"failed")
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(NOW + 1)
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "secret":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    elif change == "stale":
        now = NOW + 301
    elif change == "future":
        now = NOW - 301
    else:
        del headers["webhook-signature"]
    with pytest.raises(InvalidSignature):
        verify(secret, headers, body, now=now)


def test_any_of_several_signatures_is_enough() -> None:
    """While a secret rotates, the header carries one signature per secret."""
    headers = signature_headers(SECRET, "msg_1", BODY, timestamp=NOW)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    verify(SECRET, headers, BODY, now=NOW)
