"""Accounts, their credits and their API keys.

A key reads `sk_<key id>_<secret>`: the id is hex and the secret base62 (43 letters and digits,
about 256 bits), so a double click selects the whole key and the key splits at its two
underscores. Keys made before base62 have `token_urlsafe` secrets (which may hold `-` and `_`);
they keep working, since the secret is everything after the second underscore. Only the SHA-256
of the secret is stored (a long random secret needs no slow hash), compared in constant time.
Each account also has a webhook signing secret (`whsec_...`, Standard Webhooks), shown when a key is created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass

from services.core.errors import InvalidArgument, NotFound, Unauthenticated
from services.store import keys
from services.store.connection import RedisClient


@dataclass(frozen=True)
class NewKey:
    key_id: str
    api_key: str
    account_id: str
    webhook_secret: str


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    account_id: str
    created_at: float
    revoked: bool


BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 43  # 43 * log2(62) = 256.03 bits: as much as the 32 bytes of the old secrets


def new_secret(length: int = SECRET_LENGTH) -> str:
    """A random base62 secret: letters and digits only, so it copies with one double click."""
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_api_key(token: str) -> tuple[str, str]:
    """(key id, secret) of a well-formed key, else Unauthenticated."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "sk" or not parts[1].isalnum() or len(parts[2]) < 16:
        raise Unauthenticated("Malformed API key: expected `Authorization: Bearer sk_<id>_<secret>`")
    return parts[1], parts[2]


def check_key(token: str, record: dict[str, str]) -> tuple[str, str]:
    """(account id, key id) if `record` (the key's hash in Redis) matches `token`, else
    Unauthenticated. Split from the read so a caller can fetch the key with other data in one
    round trip."""
    key_id, secret = parse_api_key(token)
    stored = record.get("hash", "") if record else ""
    # Compare even when the key is unknown, so timing says nothing about which ids exist.
    matches = hmac.compare_digest(stored or "0" * 64, _hash(secret))
    if not record or not matches:
        raise Unauthenticated("Invalid API key")
    if record.get("revoked") == "1":
        raise Unauthenticated("This API key has been revoked")
    return record["account"], key_id


class AccountStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def create_key(self, name: str, credits: int = 0, account_id: str = "") -> NewKey:
        if credits < 0:
            raise InvalidArgument("credits must be zero or more", field="credits")
        now = time.time()
        if account_id:
            if not await self.redis.exists(keys.account(account_id)):
                raise NotFound(f"No account {account_id}")
            if credits:
                await self.redis.hincrby(keys.account(account_id), "credits", credits)
        else:
            account_id = await self.create_account(name, credits)
        webhook_secret = await self.redis.hget(keys.account(account_id), "webhook_secret")
        key_id = secrets.token_hex(6)
        secret = new_secret()
        await self.redis.hset(keys.api_key(key_id), mapping={
            "hash": _hash(secret), "account": account_id, "name": name, "created_at": now,
            "revoked": 0})
        await self.redis.sadd(keys.ALL_KEYS, key_id)
        await self.redis.sadd(keys.account_keys(account_id), key_id)  # the console lists them
        await self.redis.sadd(keys.ALL_ACCOUNTS, account_id)
        return NewKey(key_id, f"sk_{key_id}_{secret}", account_id, str(webhook_secret))

    async def create_account(self, name: str, credits: int = 0) -> str:
        """A new account (its own credits and webhook secret, no key yet); returns its id."""
        if credits < 0:
            raise InvalidArgument("credits must be zero or more", field="credits")
        account_id = secrets.token_hex(8)
        webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        await self.redis.hset(keys.account(account_id), mapping={
            "credits": credits, "name": name, "webhook_secret": webhook_secret, "created_at": time.time()})
        await self.redis.sadd(keys.ALL_ACCOUNTS, account_id)
        return account_id

    async def authenticate(self, token: str) -> tuple[str, str]:
        """(account id, key id) for a valid, unrevoked key; Unauthenticated otherwise."""
        key_id, _ = parse_api_key(token)
        return check_key(token, await self.redis.hgetall(keys.api_key(key_id)))


    async def list_keys(self) -> list[KeyInfo]:
        out = []
        for key_id in sorted(await self.redis.smembers(keys.ALL_KEYS)):
            r = await self.redis.hgetall(keys.api_key(key_id))
            if r:
                out.append(KeyInfo(key_id, r.get("name", ""), r["account"],
                                   float(r.get("created_at", 0)), r.get("revoked") == "1"))
        return out

    async def revoke(self, key_id: str) -> KeyInfo:
        if not await self.redis.exists(keys.api_key(key_id)):
            raise NotFound(f"No API key {key_id}")
        await self.redis.hset(keys.api_key(key_id), "revoked", 1)
        r = await self.redis.hgetall(keys.api_key(key_id))
        return KeyInfo(key_id, r.get("name", ""), r["account"], float(r.get("created_at", 0)), True)

    async def credits(self, account_id: str) -> int:
        value = await self.redis.hget(keys.account(account_id), "credits")
        if value is None:
            raise NotFound(f"No account {account_id}")
        return int(value)

    async def add_credits(self, account_id: str, credits: int) -> int:
        if not await self.redis.exists(keys.account(account_id)):
            raise NotFound(f"No account {account_id}")
        return int(await self.redis.hincrby(keys.account(account_id), "credits", credits))

    async def account(self, account_id: str) -> dict[str, str]:
        record: dict[str, str] = await self.redis.hgetall(keys.account(account_id))
        if not record:
            raise NotFound(f"No account {account_id}")
        return record
