"""Console users: an email and an argon2 password hash, each the login of one account.

A user signs in to the web console (issue 12) and sees their account's keys, jobs and usage;
an admin user also sees every account. Emails are kept normalised (stripped, lower case) and
unique through an index key claimed with SET NX, so two sign-ups of one address cannot both win.
Passwords are hashed with argon2id (argon2-cffi's defaults); a check against an unknown email
still verifies against a fixed hash, so timing does not tell which emails exist.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.core.errors import Conflict, InvalidArgument, NotFound, Unauthenticated
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per attempt
MAX_EMAIL_LENGTH = 254  # RFC 5321's longest forward path, less the brackets
BAD_CREDENTIALS = "Wrong email or password"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))  # verified when the email is unknown


@dataclass(frozen=True)
class User:
    id: str
    email: str
    account_id: str
    admin: bool
    created_at: float

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> User:
        return cls(id=h["id"], email=h["email"], account_id=h["account"], admin=h.get("admin") == "1",
                   created_at=float(h.get("created_at") or 0))


def normalise_email(email: str) -> str:
    """The email as stored, or InvalidArgument saying what is wrong with it."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain.strip(".") or len(email) > MAX_EMAIL_LENGTH \
            or any(c.isspace() or not c.isprintable() for c in email) or "@" in domain:
        raise InvalidArgument("Enter an email address such as name@example.com", field="email")
    return email


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"The password must be at least {MIN_PASSWORD_LENGTH} characters",
                              field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidArgument(f"The password must be at most {MAX_PASSWORD_LENGTH} characters",
                              field="password")


class UserStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.accounts = AccountStore(redis)

    async def create(self, email: str, password: str, *, admin: bool = False, credits: int = 0,
                     account_id: str = "") -> User:
        """A user with a new account holding `credits` (or the login of `account_id`)."""
        email = normalise_email(email)
        check_password_rules(password)
        if credits < 0:
            raise InvalidArgument("credits must be zero or more", field="credits")
        user_id = secrets.token_hex(8)
        if not await self.redis.set(keys.user_email(email), user_id, nx=True):
            raise Conflict(f"A user with the email {email} already exists")
        try:
            if account_id:
                await self.accounts.add_credits(account_id, credits)
            else:
                account_id = await self.accounts.create_account(email, credits)
        except Exception:
            await self.redis.delete(keys.user_email(email))
            raise
        record = {"id": user_id, "email": email, "account": account_id, "admin": int(admin),
                  "password": _hasher.hash(password), "created_at": time.time()}
        await self.redis.hset(keys.user(user_id), mapping=record)
        await self.redis.sadd(keys.ALL_USERS, user_id)
        return User.from_hash({k: str(v) for k, v in record.items()})

    async def find(self, email: str) -> User | None:
        user_id = await self.redis.get(keys.user_email(normalise_email(email)))
        h = await self.redis.hgetall(keys.user(user_id)) if user_id else {}
        return User.from_hash(h) if h else None

    async def set_password(self, user_id: str, password: str) -> None:
        check_password_rules(password)
        if not await self.redis.exists(keys.user(user_id)):
            raise NotFound("No such user")
        await self.redis.hset(keys.user(user_id), "password", _hasher.hash(password))

    async def get(self, user_id: str) -> User:
        h = await self.redis.hgetall(keys.user(user_id))
        if not h:
            raise NotFound("No such user")
        return User.from_hash(h)

    async def check_password(self, email: str, password: str) -> User:
        """The user whose email and password these are, else Unauthenticated (one message for
        both cases, so the answer does not tell which emails exist)."""
        try:
            email = normalise_email(email)
        except InvalidArgument:
            email = ""
        user_id = await self.redis.get(keys.user_email(email)) if email else None
        h = await self.redis.hgetall(keys.user(user_id)) if user_id else {}
        try:
            _hasher.verify(h.get("password") or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        except (VerificationError, InvalidHashError):
            raise Unauthenticated(BAD_CREDENTIALS) from None
        if not h:
            raise Unauthenticated(BAD_CREDENTIALS)
        if _hasher.check_needs_rehash(h["password"]):
            await self.redis.hset(keys.user(h["id"]), "password", _hasher.hash(password))
        return User.from_hash(h)

    async def of_account(self, account_id: str) -> list[User]:
        """The account's users (admins read them beside each account)."""
        found = []
        for user_id in sorted(await self.redis.smembers(keys.ALL_USERS)):
            h = await self.redis.hgetall(keys.user(user_id))
            if h and h.get("account") == account_id:
                found.append(User.from_hash(h))
        return found

    async def all(self) -> list[User]:
        users = []
        for user_id in sorted(await self.redis.smembers(keys.ALL_USERS)):
            h = await self.redis.hgetall(keys.user(user_id))
            if h:
                users.append(User.from_hash(h))
        return users
