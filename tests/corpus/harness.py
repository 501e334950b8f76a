"""A handle on the running stack for the corpus tests: keys on fresh accounts, credit balances."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from stacks import new_keys

from services.devtools.process_stack import ProcessStack
from services.store.accounts import AccountStore, NewKey
from services.store.connection import connect

CREDITS = 10_000


@dataclass
class Corpus:
    stack: ProcessStack

    def new_keys(self, n: int, credits: int = CREDITS) -> list[NewKey]:
        """`n` keys, each on an account of its own: no case shares a rate limit or a job cap."""
        return new_keys(self.stack.redis_url, n, credits, "corpus")

    def credits(self, account_id: str) -> int:
        async def read() -> int:
            redis = connect(self.stack.redis_url)
            try:
                return await AccountStore(redis).credits(account_id)
            finally:
                await redis.aclose()

        return asyncio.run(read())
