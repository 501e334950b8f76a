"""The pieces of rate limiting and idempotency that need no Redis: headers, RetryInfo ->
`Retry-After`, and request fingerprints."""

from __future__ import annotations

import pytest
from grpc.aio import AioRpcError, Metadata

from proxy.error_responses import STATUS_DETAILS_KEY, from_rpc_error
from proxy.response_headers import passed_headers
from services.core.errors import InvalidArgument, RateLimited, TooManyJobs, to_status
from services.store.idempotency import fingerprint
from services.store.ratelimit import RateDecision


def test_decision_headers_round_the_reset_up() -> None:
    decision = RateDecision(True, 60, 59, reset_seconds=1.000001, retry_after_seconds=0)
    assert decision.headers() == (("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "59"),
                                  ("x-ratelimit-reset", "2"))


def _rpc_error(error: RateLimited, initial: Metadata) -> AioRpcError:
    status = to_status(error)
    trailing = Metadata((STATUS_DETAILS_KEY, status.SerializeToString()))
    return AioRpcError(error.code, initial, trailing, details=error.message)


@pytest.mark.parametrize(("wait", "header"), [(0.2, "1"), (2.0, "2"), (2.01, "3"), (59.5, "60")])
def test_rate_limited_is_429_with_retry_after_rounded_up(wait: float, header: str) -> None:
    budget = Metadata(("x-ratelimit-limit", "5"), ("x-ratelimit-remaining", "0"),
                      ("x-ratelimit-reset", "60"), ("x-other", "not passed"))
    api = from_rpc_error(_rpc_error(RateLimited("Rate limit reached", retry_after=wait), budget))
    assert (api.status, api.code, api.message) == (429, "rate_limited", "Rate limit reached")
    assert api.headers == {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0",
                           "x-ratelimit-reset": "60", "Retry-After": header}


def test_too_many_jobs_has_its_own_code() -> None:
    api = from_rpc_error(_rpc_error(TooManyJobs("busy", retry_after=5), Metadata()))
    assert (api.status, api.code, api.headers) == (429, "too_many_concurrent_jobs", {"Retry-After": "5"})


def test_only_named_metadata_passes() -> None:
    assert passed_headers(None, [("idempotent-replayed", "true"), ("x-ratelimit-x", "1"),
                                 ("grpc-status-details-bin", b"\x00")]) == {"idempotent-replayed": "true"}


def test_fingerprints_compare_meaning_not_spelling() -> None:
    one = fingerprint("key-1", {"model": "lipsync-image", "form": {"a": 1, "b": "x"}})
    same = fingerprint("key-1", {"form": {"b": "x", "a": 1}, "model": "lipsync-image"})
    other = fingerprint("key-1", {"model": "lipsync-image", "form": {"a": 2, "b": "x"}})
    assert one == same
    assert one.key_digest == other.key_digest and one.request_hash != other.request_hash
    assert fingerprint("key-2", {}).key_digest != one.key_digest
    assert len(one.key_digest) == 64 and "key-1" not in one.key_digest


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
def test_bad_idempotency_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        fingerprint(key, {})
    assert refused.value.field == "Idempotency-Key"
