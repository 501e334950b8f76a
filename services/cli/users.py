"""`lipsync users create|list`: web console users, straight in Redis (as `lipsync keys` does).

The password comes from stdin only, so it never shows in `ps` or shell history:

    printf '%s\\n' "$PASSWORD" | lipsync users create --email ops@example.com --password-stdin --admin
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO


def read_password(stream: TextIO | None = None) -> str:
    password = (stream or sys.stdin).readline().rstrip("\r\n")
    if not password:
        raise ValueError("no password on stdin: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | "
                         "lipsync users create --email ... --password-stdin")
    return password


def run_users(args: argparse.Namespace) -> int:
    from services.core.settings import Settings
    from services.store.connection import connect
    from services.store.users import UserStore

    password = read_password() if args.users_command == "create" else ""

    async def run() -> int:
        redis = connect(Settings.from_env().redis_url)
        store = UserStore(redis)
        try:
            if args.users_command == "create":
                user = await store.create(args.email, password, admin=args.admin, credits=args.credits,
                                          account_id=args.account)
                credits = await store.accounts.credits(user.account_id)
                role = "admin" if user.admin else "user"
                print(f"created {role} {user.email} (user {user.id}, account {user.account_id}, "
                      f"{credits} credits); sign in at /console/")
            else:
                for user in await store.all():
                    print(f"{user.id}  {'admin' if user.admin else 'user ':<5}  account {user.account_id}  "
                          f"{user.email}")
        finally:
            await redis.aclose()
        return 0

    return asyncio.run(run())
