"""Signed-in console sessions, kept in Redis and expiring on their own.

The browser holds only a random token (its cookie); Redis holds the session under the token's
SHA-256, so a copy of the database signs nobody in. Each session carries its own CSRF token,
which every state-changing console request must repeat. Signing in always makes a new session
(and ends the one the browser had, if any), so a token planted before sign-in is worthless.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from services.core.errors import Unauthenticated
from services.store import keys
from services.store.connection import RedisClient

SIGNED_OUT = "Your session has ended; sign in again"
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Session:
    token: str  # only in the answer to a sign-in; never stored
    user_id: str
    csrf_token: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: RedisClient, lifetime_seconds: int) -> None:
        self.redis = redis
        self.lifetime_seconds = lifetime_seconds

    async def start(self, user_id: str, replaces: str = "") -> Session:
        if replaces:
            await self.end(replaces)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        await self.redis.hset(keys.session(_digest(token)), mapping={
            "user": user_id, "csrf": csrf, "created_at": now})
        await self.redis.expire(keys.session(_digest(token)), self.lifetime_seconds)
        return Session(token, user_id, csrf, now + self.lifetime_seconds)

    async def resolve(self, token: str) -> Session:
        """The live session of `token`, else Unauthenticated."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated(SIGNED_OUT)
        record = await self.redis.hgetall(keys.session(_digest(token)))
        if not record:
            raise Unauthenticated(SIGNED_OUT)
        created = float(record.get("created_at") or 0)
        return Session("", record["user"], record["csrf"], created + self.lifetime_seconds)

    async def end(self, token: str) -> None:
        if token and len(token) <= MAX_TOKEN_LENGTH:
            await self.redis.delete(keys.session(_digest(token)))
