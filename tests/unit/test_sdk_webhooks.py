"""The Python SDK's webhook verification against the Standard Webhooks specification's published
test vector (the one `tests/unit/test_signing.py` checks the service's signer with), and against
the service's own signer."""

from __future__ import annotations

import base64
import json

import pytest
from lipsync_client import InvalidSignature, Job, LipsyncError, sign_webhook, verify_webhook

from services.webhooks.signing import signature_headers

# The example of the Standard Webhooks specification's test suite.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TIME, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
JOB = {"id": "550e8400-e29b-41d4-a716-446655440000", "model": "lipsync-image", "status": "completed",
       "output": "https://example.com/o.mp4", "error": "", "executionTime": 1234, "timings": None,
       "progress": 1.0}


def test_the_published_vector() -> None:
    assert sign_webhook(VECTOR_BODY, VECTOR_SECRET, VECTOR_ID, VECTOR_TIME) == VECTOR_SIGNATURE
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIME),
               "webhook-signature": f"v1,bm90IHRoaXMgb25l {VECTOR_SIGNATURE}"}  # rotating: two offered
    with pytest.raises(LipsyncError, match="genuine, but its body is not a job") as caught:
        verify_webhook(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TIME + 5)
    assert not isinstance(caught.value, InvalidSignature)


def test_what_the_service_signs_verifies_and_is_the_job() -> None:
    body = json.dumps(JOB).encode()
    signed = signature_headers(SECRET, "msg_1", body, timestamp=1_717_000_000)
    headers = {name.title(): value for name, value in signed.items()}  # any case
    job = verify_webhook(body.decode(), headers, SECRET, now=1_717_000_100)
    assert job == Job.from_json(JOB) and job.execution_time == 1234 and job.raw == JOB


@pytest.mark.parametrize("change", ["body", "secret", "stale", "future", "missing", "version"])
def test_refused(change: str) -> None:
    body = json.dumps(JOB).encode()
    headers = signature_headers(SECRET, "msg_1", body, timestamp=1_717_000_000)
    secret, now = SECRET, 1_717_000_000.0
    if change == "body":
        body = body.replace(b"completed", b"failed")
    elif change == "secret":
        secret = VECTOR_SECRET
    elif change == "stale":
        now += 301
    elif change == "future":
        now -= 301
    elif change == "missing":
        del headers["webhook-id"]
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(InvalidSignature):
        verify_webhook(body, headers, secret, now=now)
