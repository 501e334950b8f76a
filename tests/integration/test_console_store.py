"""Console users and sessions in Redis, and `lipsync users create`: what is stored, and what is not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.core.errors import Conflict, InvalidArgument, Unauthenticated
from services.devtools.redis_server import RedisServer
from services.store import keys
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.sessions import SessionStore
from services.store.users import UserStore

PASSWORD = "correct horse battery"


async def test_passwords_are_argon2id_hashes_and_emails_are_unique(redis: RedisClient) -> None:
    users = UserStore(redis)
    user = await users.create(" Zoe@Example.COM ", PASSWORD, credits=50)
    assert user.email == "zoe@example.com" and not user.admin
    stored = await redis.hget(keys.user(user.id), "password")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert await AccountStore(redis).credits(user.account_id) == 50
    assert (await users.check_password("ZOE@example.com", PASSWORD)).id == user.id
    with pytest.raises(Unauthenticated, match="Wrong email or password"):
        await users.check_password("zoe@example.com", PASSWORD + "x")
    with pytest.raises(Conflict):
        await users.create("zoe@EXAMPLE.com", PASSWORD)


@pytest.mark.parametrize(("email", "password", "field"), [
    ("no-at-sign", PASSWORD, "email"), ("a@b", PASSWORD, "email"), ("a b@c.d", PASSWORD, "email"),
    ("x@" + "a" * 260 + ".com", PASSWORD, "email"), ("ok@example.com", "short", "password"),
    ("ok@example.com", "p" * 1025, "password"),
])
async def test_bad_emails_and_passwords_are_refused(redis: RedisClient, email: str, password: str,
                                                    field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await UserStore(redis).create(email, password)
    assert refused.value.field == field


async def test_sessions_keep_only_a_hash_of_their_token_and_expire(redis: RedisClient) -> None:
    sessions = SessionStore(redis, lifetime_seconds=60)
    session = await sessions.start("u1")
    stored = [k async for k in redis.scan_iter(match="lipsync:session:*")]
    assert len(stored) == 1 and session.token not in stored[0]
    assert 0 < await redis.ttl(stored[0]) <= 60
    assert (await sessions.resolve(session.token)).csrf_token == session.csrf_token
    replaced = await sessions.start("u1", replaces=session.token)
    with pytest.raises(Unauthenticated):
        await sessions.resolve(session.token)
    await sessions.end(replaced.token)
    with pytest.raises(Unauthenticated):
        await sessions.resolve(replaced.token)
    for bad in ("", "x" * 500):
        with pytest.raises(Unauthenticated):
            await sessions.resolve(bad)


def _users_cli(redis_server: RedisServer, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "users", *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LIPSYNC_REDIS_URL": redis_server.url})


async def test_users_create_reads_the_password_from_stdin(redis_server: RedisServer,
                                                         redis: RedisClient) -> None:
    made = _users_cli(redis_server, "create", "--email", "ops@example.com", "--password-stdin", "--admin",
                      "--credits", "250", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert "created admin ops@example.com" in made.stdout and "250 credits" in made.stdout
    user = await UserStore(redis).check_password("ops@example.com", PASSWORD)
    assert user.admin
    again = _users_cli(redis_server, "create", "--email", "ops@example.com", "--password-stdin",
                       stdin=PASSWORD)
    assert again.returncode == 2 and "already exists" in again.stderr
    empty = _users_cli(redis_server, "create", "--email", "x@example.com", "--password-stdin", stdin="")
    assert empty.returncode == 2 and "no password on stdin" in empty.stderr
    short = _users_cli(redis_server, "create", "--email", "x@example.com", "--password-stdin", stdin="abc\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    listed = _users_cli(redis_server, "list", stdin="")
    assert "ops@example.com" in listed.stdout and "admin" in listed.stdout
