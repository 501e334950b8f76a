"""The stack the corpus is sent to: `lipsync serve jobs|inference|proxy` as separate processes on
one redis-server, configured as production is (https-only public webhooks, public input URLs
only), on free loopback ports. Started once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.devtools.process_stack import ProcessStack

from .harness import Corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    with ProcessStack(tmp_path_factory.mktemp("corpus-stack"), workers=1,
                      env={"LIPSYNC_WORKER_CONCURRENCY": "2"}) as stack:
        yield Corpus(stack)
