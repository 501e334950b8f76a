"""Every Redis key the project uses, in one place."""

from __future__ import annotations

PREFIX = "lipsync"

JOB_QUEUE = f"{PREFIX}:queue"  # stream: one entry per job to render
WORKER_GROUP = "workers"  # consumer group of the inference workers on JOB_QUEUE
JOB_EVENTS = f"{PREFIX}:events"  # stream: a job finished (completed or failed)
WEBHOOK_GROUP = "webhooks"  # consumer group of the webhook dispatchers on JOB_EVENTS
WEBHOOK_SCHEDULE = f"{PREFIX}:webhooks:due"  # zset: delivery id -> when to try next (epoch s)
ALL_KEYS = f"{PREFIX}:keys"  # set of API key ids


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def account(account_id: str) -> str:
    return f"{PREFIX}:account:{account_id}"


def account_jobs(account_id: str) -> str:
    """zset: the account's job ids by creation time (ms)."""
    return f"{PREFIX}:account:{account_id}:jobs"


def account_active(account_id: str) -> str:
    """set: the account's processing job ids (the concurrent-jobs cap counts them)."""
    return f"{PREFIX}:account:{account_id}:active"


def api_key(key_id: str) -> str:
    return f"{PREFIX}:key:{key_id}"


def webhook_delivery(delivery_id: str) -> str:
    return f"{PREFIX}:webhook:{delivery_id}"


def webhook_attempts(delivery_id: str) -> str:
    """list: one JSON record per delivery attempt."""
    return f"{PREFIX}:webhook:{delivery_id}:attempts"


def idempotency(account_id: str, key_digest: str) -> str:
    """string: "<request hash> <job id>" of a submit made with an Idempotency-Key (24 h)."""
    return f"{PREFIX}:idem:{account_id}:{key_digest}"


def rate_limit(key_id: str, bucket: str) -> str:
    """string: the theoretical arrival time (GCRA) of an API key's budget, e.g. "submit"."""
    return f"{PREFIX}:rate:{key_id}:{bucket}"


# -- the web console (issue 12) ----------------------------------------------------------------

ALL_USERS = f"{PREFIX}:users"  # set of console user ids
ALL_ACCOUNTS = f"{PREFIX}:accounts"  # set of account ids made since the console (older ones: via keys)


def user(user_id: str) -> str:
    """hash: a console user (email, argon2 hash, account, admin flag)."""
    return f"{PREFIX}:user:{user_id}"


def user_email(email: str) -> str:
    """string: the user id of an email (normalised: stripped, lower case)."""
    return f"{PREFIX}:user-email:{email}"


def account_keys(account_id: str) -> str:
    """set: the account's API key ids (keys made before it are added on first listing)."""
    return f"{PREFIX}:account:{account_id}:keys"


def session(token_digest: str) -> str:
    """hash: a signed-in console session (user, CSRF token), expiring; named by the token's SHA-256."""
    return f"{PREFIX}:session:{token_digest}"
