"""Property-based tests generated from the proxy's own `/openapi.json` by schemathesis: valid
and invalid requests to every operation, authenticated with real keys, against the real proxy
over the real job service on a real redis-server. Every answer must conform to the document
(status codes, headers, bodies) and none may be a server error.

All of schemathesis's checks run but one: `positive_data_acceptance` (a request the document
allows must not be refused with 400). The API refuses, with a 400 naming the field, what JSON
Schema cannot say: a URL without a host, a webhook on a private address, an account's own
limits. The document lists 400 for every such operation, and the corpus checks those answers.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from proxy.app import create_app
from services.core.settings import Settings
from services.store.accounts import AccountStore
from services.store.connection import connect

from .threaded_stack import ThreadedStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES_PER_OPERATION = 150  # x 12 operations, two generation modes; fewer where few inputs exist
MIN_REQUESTS = 1000
KEYS = 64  # requests spread over many accounts, as many clients would send them


class Sent:
    """Counts the requests the generated tests sent, across all of them."""

    def __init__(self) -> None:
        self.count = 0
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()

    def record(self, status: int) -> None:
        with self.lock:
            self.count += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


SENT = Sent()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedStack]:
    with ThreadedStack(tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@pytest.fixture(scope="module")
def keys(stack: ThreadedStack) -> Iterator[str]:
    """Real keys, each on its own account, handed out in turn."""
    async def create() -> list[str]:
        redis = connect(stack.redis.url)
        try:
            store = AccountStore(redis)
            return [(await store.create_key(f"fuzz-{i}", 1_000_000)).api_key for i in range(KEYS)]
        finally:
            await redis.aclose()

    return itertools.cycle(asyncio.run(create()))


def served_document() -> dict[str, Any]:
    """What the proxy serves at /openapi.json (the last test checks the running one agrees).
    Read at import: schemathesis builds one test per operation when the module is collected."""
    async def fetch() -> dict[str, Any]:
        app = create_app(Settings())  # no lifespan: nothing is started
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://doc") as c:
            document: dict[str, Any] = (await c.get("/openapi.json")).json()
            return document

    return asyncio.run(fetch())


DOCUMENT = served_document()
# A live session's WHIP offer is SDP: text, sent as it is.
schemathesis.serializer.alias("application/sdp", "text/plain")
schema = schemathesis.openapi.from_dict(DOCUMENT)
# Keys are not generated: every request carries a real one (401s are the corpus's business), so
# invalid requests get past authentication to the checks they are meant to trip.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                max_examples=EXAMPLES_PER_OPERATION, with_security_parameters=False)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_document(case: Any, stack: ThreadedStack, keys: Iterator[str]) -> None:
    key = {"Authorization": f"Bearer {next(keys)}"}
    response = case.call_and_validate(base_url=stack.base_url, headers=key,
                                      excluded_checks=[positive_data_acceptance])
    SENT.record(response.status_code)
    assert response.status_code < 500, response.text


def test_enough_requests_were_generated(stack: ThreadedStack) -> None:
    """Runs after the generated tests (file order)."""
    served = httpx.get(f"{stack.base_url}/openapi.json").json()
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in DOCUMENT.items() if k != "servers"}
    assert SENT.count >= MIN_REQUESTS, SENT.statuses
    assert not [status for status in SENT.statuses if status >= 500], SENT.statuses
    print(f"schemathesis sent {SENT.count} requests: {dict(sorted(SENT.statuses.items()))}")


