"""The web console over HTTP: the proxy app (lifespan running) before the real job service
(gRPC on a loopback port) on a real redis-server. Sign-in, sessions, CSRF, keys, usage, jobs with
webhook deliveries, admin credits, languages and the security headers, probed as a browser and
as an attacker would (cross-account ids, missing tokens, bad input). The browser itself is in
tests/e2e/test_console_browser.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proxy.app import create_app
from services.cli.serve import serve_webhooks
from services.core.settings import Secret, Settings
from services.devtools.redis_server import RedisServer, free_port
from services.jobs.server import create_server
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore
from services.store.users import User, UserStore

BASE = "http://testserver"
PASSWORD = "correct horse battery"
FORM = {"image": "https://example.com/face.png", "audio": "https://example.com/a.mp3"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


class Browser(httpx.AsyncClient):
    """A cookie jar that may be used before its `async with` (which then only closes it)."""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass
class Console:
    settings: Settings
    redis: RedisClient
    app: Starlette
    server: grpc.aio.Server

    def browser(self, **headers: str) -> Browser:
        """A fresh cookie jar, as another browser."""
        return Browser(transport=httpx.ASGITransport(self.app, client=("203.0.113.7", 5000)),
                                 base_url=BASE, headers=headers)

    async def user(self, email: str, credits: int = 1000, admin: bool = False) -> User:
        return await UserStore(self.redis).create(email, PASSWORD, credits=credits, admin=admin)


@pytest.fixture
async def console(redis_server: RedisServer, redis: RedisClient, tmp_path: Path) -> AsyncIterator[Console]:
    async for c in _console(redis_server, redis, tmp_path):
        yield c


async def _console(redis_server: RedisServer, redis: RedisClient, tmp_path: Path,
                   **overrides: object) -> AsyncIterator[Console]:
    settings = Settings(redis_url=redis_server.url, public_url=BASE, data_dir=tmp_path / "data",
                        signing_key=Secret("test-signing-key"), allow_http_webhooks=True,
                        allow_private_urls=True, max_upload_bytes=64 * 1024).with_(**overrides)
    server, port = create_server("127.0.0.1:0", settings, redis)
    await server.start()
    settings = settings.with_(jobs_addr=f"127.0.0.1:{port}")
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield Console(settings, redis, app, server)
    finally:
        await server.stop(None)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/console/")
    return await client.post("/console/sign-in", data={
        "email": email, "password": password, "csrf_token": hidden(page.text, "csrf_token")})


async def signed_in(console: Console, email: str, **user: object) -> Browser:
    await console.user(email, **user)  # type: ignore[arg-type]
    client = console.browser()
    reply = await sign_in(client, email)
    assert reply.status_code == 303, reply.text
    return client


async def csrf(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/console/keys")).text)


async def create_key(client: httpx.AsyncClient, name: str) -> str:
    reply = await client.post("/console/keys", data={"name": name, "csrf_token": await csrf(client)})
    assert reply.status_code == 200, reply.text
    found = re.search(r'data-testid="new-key-secret"[^>]*|value="(sk_[A-Za-z0-9_]+)"', reply.text)
    secret = re.search(r'value="(sk_[A-Za-z0-9]+_[A-Za-z0-9]+)"', reply.text)
    assert found and secret, reply.text
    return secret.group(1)


# -- signing in --------------------------------------------------------------------------------

async def test_sign_in_sets_a_hardened_cookie_and_shows_the_home_page(console: Console) -> None:
    await console.user("ada@example.com", credits=1234)
    async with console.browser() as client:
        page = await client.get("/console/")
        assert page.status_code == 200
        assert 'data-testid="sign-in"' in page.text and 'name="email"' in page.text
        reply = await sign_in(client, "  Ada@Example.com ")
        assert reply.status_code == 303 and reply.headers["location"] == "/console/"
        cookie = reply.headers["set-cookie"]
        assert "lipsync_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/console" in cookie and "Max-Age=43200" in cookie
        assert "Secure" not in cookie  # plain http here; see the https test below
        home = await client.get("/console/")
        assert re.search(r'data-testid="credit-balance" value="1234" dir="ltr">1234<', home.text)
        assert "ada@example.com" in home.text


async def test_cookie_is_secure_over_https(redis_server: RedisServer, redis: RedisClient,
                                           tmp_path: Path) -> None:
    async for console in _console(redis_server, redis, tmp_path):
        await console.user("sec@example.com")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(console.app),
                                     base_url="https://console.test") as client:
            reply = await sign_in(client, "sec@example.com")
            assert reply.status_code == 303
            assert "Secure" in reply.headers["set-cookie"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(console: Console) -> None:
    await console.user("bob@example.com")
    async with console.browser() as client:
        wrong = await sign_in(client, "bob@example.com", "not the password")
        unknown = await sign_in(client, "nobody@example.com", "not the password")
        for reply in (wrong, unknown):
            assert reply.status_code == 400
            assert "Wrong email or password" in reply.text
            assert "lipsync_session" not in reply.headers.get("set-cookie", "")


async def test_sign_in_is_throttled_per_account(console: Console) -> None:
    await console.user("carol@example.com")
    statuses = []
    for _ in range(7):  # a fresh browser each time: the budget is the account's, not the cookie's
        async with console.browser() as client:
            statuses.append((await sign_in(client, "carol@example.com", "guess guess guess")).status_code)
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]
    async with console.browser() as client:  # even the right password waits now
        reply = await sign_in(client, "carol@example.com")
        assert reply.status_code == 429 and "Too many sign-in attempts" in reply.text


async def test_sign_in_is_throttled_per_address(redis_server: RedisServer, redis: RedisClient,
                                                tmp_path: Path) -> None:
    async for console in _console(redis_server, redis, tmp_path, console_signin_per_address_per_minute=3):
        codes = []
        for i in range(4):
            async with console.browser() as client:
                codes.append((await sign_in(client, f"u{i}@example.com", "whatever-pass")).status_code)
        assert codes == [400, 400, 400, 429]


async def test_sign_in_without_its_form_token_is_403(console: Console) -> None:
    await console.user("dave@example.com")
    async with console.browser() as client:
        reply = await client.post("/console/sign-in",
                                  data={"email": "dave@example.com", "password": PASSWORD})
        assert reply.status_code == 403
        assert "lipsync_session" not in reply.headers.get("set-cookie", "")


async def test_signing_in_again_rotates_the_session_and_signing_out_ends_it(console: Console) -> None:
    client = await signed_in(console, "erin@example.com")
    async with client, console.browser() as other:
        first = client.cookies["lipsync_session"]
        page = await other.get("/console/")  # signed out: the form and its token
        other.cookies.set("lipsync_session", first, path="/console")  # a session it already had
        reply = await other.post("/console/sign-in", data={
            "email": "erin@example.com", "password": PASSWORD, "csrf_token": hidden(page.text, "csrf_token")})
        assert reply.status_code == 303
        new_cookie = re.search(r"lipsync_session=([^;]+)", reply.headers["set-cookie"])
        assert new_cookie
        second = new_cookie.group(1)
        assert second != first
        # The session the sign-in replaced no longer signs anyone in.
        stale = await client.get("/console/keys")
        assert stale.status_code == 303 and stale.headers["location"].startswith("/console/?next=")
        async with console.browser() as signed:
            signed.cookies.set("lipsync_session", second, path="/console")
            token = csrf_of((await signed.get("/console/keys")).text)
            out = await signed.post("/console/sign-out", data={"csrf_token": token})
            assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        async with console.browser() as after:
            after.cookies.set("lipsync_session", second, path="/console")
            assert (await after.get("/console/usage")).status_code == 303


async def test_pages_need_a_session(console: Console) -> None:
    async with console.browser() as client:
        for path in ("/console/keys", "/console/usage", "/console/playground", "/console/jobs",
                     "/console/docs"):
            reply = await client.get(path)
            assert reply.status_code == 303 and reply.headers["location"] == f"/console/?next={path}"
        assert (await client.get("/console/api/jobs/x")).status_code == 401
        assert (await client.get("/console/usage.csv")).status_code == 401


async def test_next_after_sign_in_stays_in_the_console(console: Console) -> None:
    await console.user("next@example.com")
    for target, expected in (("/console/jobs", "/console/jobs"), ("https://evil.test/", "/console/"),
                             ("//evil.test/", "/console/"), ("/console//evil.test", "/console/")):
        async with console.browser() as client:
            page = await client.get("/console/", params={"next": target})
            reply = await client.post("/console/sign-in", data={
                "email": "next@example.com", "password": PASSWORD, "next": hidden(page.text, "next"),
                "csrf_token": hidden(page.text, "csrf_token")})
            assert reply.headers["location"] == expected


# -- keys --------------------------------------------------------------------------------------

async def test_key_created_in_the_console_works_until_revoked(console: Console) -> None:
    client = await signed_in(console, "fay@example.com")
    async with client:
        secret = await create_key(client, "laptop")
        api = {"Authorization": f"Bearer {secret}"}
        assert (await client.get("/api/v1/account", headers=api)).status_code == 200
        keys_page = (await client.get("/console/keys")).text
        assert secret not in keys_page  # shown once, never again
        key_id = secret.split("_")[1]
        assert f"sk_{key_id}_" in keys_page and "laptop" in keys_page
        row = re.search(rf'<tr data-testid="key-row" data-key-id="{key_id}">(.*?)</tr>', keys_page, re.S)
        assert row and re.findall(r'<td class="num">(\d+)</td>', row.group(1))[0] == "1"  # one request
        token = csrf_of(keys_page)
        # Without the confirmation (no script): a confirmation page, nothing revoked yet.
        ask = await client.post(f"/console/keys/{key_id}/revoke", data={"csrf_token": token})
        assert ask.status_code == 200 and 'data-testid="confirm-revoke"' in ask.text
        assert (await client.get("/api/v1/account", headers=api)).status_code == 200
        done = await client.post(f"/console/keys/{key_id}/revoke",
                                 data={"csrf_token": token, "confirm": "yes"})
        assert done.status_code == 303
        assert (await client.get("/api/v1/account", headers=api)).status_code == 401


async def test_state_changing_posts_without_csrf_are_403(console: Console) -> None:
    client = await signed_in(console, "gus@example.com", admin=True)
    async with client:
        key_id = (await create_key(client, "k")).split("_")[1]
        account = (await UserStore(console.redis).find("gus@example.com"))
        assert account is not None
        for path, data in (("/console/keys", {"name": "x"}),
                           (f"/console/keys/{key_id}/revoke", {"confirm": "yes"}),
                           ("/console/usage/credits", {"account_id": account.account_id, "credits": "5"}),
                           ("/console/sign-out", {})):
            for token in (None, "forged"):
                form = dict(data) if token is None else {**data, "csrf_token": token}
                assert (await client.post(path, data=form)).status_code == 403, path
        for path in ("/console/api/files", "/console/api/jobs"):
            reply = await client.post(path, content=b"{}")
            assert reply.status_code == 403 and reply.json()["code"] == "csrf"
        page = (await client.get("/console/keys")).text
        assert page.count('data-testid="key-row"') == 1 and "revoked" not in page.split("<tbody>")[1]


async def test_a_user_never_sees_another_accounts_keys_jobs_or_usage(console: Console) -> None:
    alice = await signed_in(console, "alice@example.com")
    mallory = await signed_in(console, "mallory@example.com")
    async with alice, mallory:
        secret = await create_key(alice, "alice-key")
        key_id = secret.split("_")[1]
        reply = await alice.post("/api/v1/lipsync-image", json={"formState": FORM},
                                 headers={"Authorization": f"Bearer {secret}"})
        job_id = reply.json()["id"]
        assert job_id in (await alice.get("/console/jobs")).text
        assert (await alice.get(f"/console/api/jobs/{job_id}")).json()["id"] == job_id
        for path in ("/console/keys", "/console/jobs", "/console/usage", "/console/usage.csv", "/console/"):
            text = (await mallory.get(path)).text
            assert job_id not in text and key_id not in text and "alice-key" not in text, path
        missing = await mallory.get(f"/console/api/jobs/{job_id}")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        revoke = await mallory.post(f"/console/keys/{key_id}/revoke",
                                    data={"csrf_token": await csrf(mallory), "confirm": "yes"})
        assert revoke.status_code == 404 and 'data-testid="error-page"' in revoke.text
        still = await alice.get("/api/v1/account", headers={"Authorization": f"Bearer {secret}"})
        assert still.status_code == 200
        # Not an admin: no account list, no adding credits.
        assert 'id="accounts"' not in (await mallory.get("/console/usage")).text
        user = await UserStore(console.redis).find("mallory@example.com")
        assert user is not None
        added = await mallory.post("/console/usage/credits", data={
            "csrf_token": await csrf(mallory), "account_id": user.account_id, "credits": "100"})
        assert added.status_code == 403
        assert await AccountStore(console.redis).credits(user.account_id) == 1000


async def test_key_name_and_ids_are_checked(console: Console) -> None:
    client = await signed_in(console, "hal@example.com")
    async with client:
        token = await csrf(client)
        long_name = await client.post("/console/keys", data={"name": "x" * 101, "csrf_token": token})
        assert long_name.status_code == 400 and 'data-testid="form-error"' in long_name.text
        control = await client.post("/console/keys", data={"name": "a\x07b", "csrf_token": token})
        assert control.status_code == 400
        for bad in ("nope", "../../etc", "a" * 300):
            reply = await client.post(f"/console/keys/{bad}/revoke",
                                      data={"csrf_token": token, "confirm": "yes"})
            assert reply.status_code in (404, 403), (bad, reply.status_code)
        assert (await client.get("/console/api/jobs/not-a-uuid")).status_code == 404
        assert (await client.get("/console/jobs", params={"before": "zzz"})).status_code == 404


# -- usage, jobs, playground --------------------------------------------------------------------

async def test_usage_history_totals_and_csv_follow_the_bill(console: Console) -> None:
    client = await signed_in(console, "ivy@example.com", credits=500)
    async with client:
        secret = await create_key(client, "batch")
        api = {"Authorization": f"Bearer {secret}"}
        done_id = (await client.post("/api/v1/lipsync-image", json={"formState": FORM},
                                     headers=api)).json()["id"]
        failed_id = (await client.post("/api/v1/lipsync-image",
                                       json={"formState": {**FORM, "resolution": "720p"}},
                                       headers=api)).json()["id"]
        store = JobStore(console.redis)
        job = await store.get(done_id)
        await store.settle(job, 14, seconds=6.4)  # as a worker does: 7 s billed at 2 credits
        await store.complete(await store.get(done_id), "outputs/x.mp4", 1000, {})
        await store.fail(await store.get(failed_id), "No face found in the image")
        usage = (await client.get("/console/usage")).text
        assert re.search(r'data-testid="credit-balance" value="486"', usage)
        rows = re.findall(r'<tr data-testid="usage-row" data-job-id="([^"]+)">', usage)
        assert rows == [failed_id, done_id]
        assert "6.4" in usage and "batch" in usage
        keys_page = (await client.get("/console/keys")).text
        row = re.search(r'<tr data-testid="key-row".*?</tr>', keys_page, re.S)
        assert row and re.findall(r'<td class="num">(\d+)</td>', row.group(0)) == ["2", "14"]
        exported = await client.get("/console/usage.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["id"] for r in table] == [failed_id, done_id]
        assert table[1]["credits"] == "14" and table[1]["output_seconds"] == "6.4"
        assert table[0]["credits"] == "0" and table[0]["status"] == "failed"
        assert table[1]["key_name"] == "batch"


async def test_playground_upload_submit_and_follow(console: Console) -> None:
    client = await signed_in(console, "jo@example.com")
    async with client:
        headers = {"X-CSRF-Token": await csrf(client)}
        uploaded = await client.post("/console/api/files", content=PNG, headers=headers)
        assert uploaded.status_code == 200, uploaded.text
        url = uploaded.json()["url"]
        assert url.startswith(f"{BASE}/files/uploads/")
        reply = await client.post("/console/api/jobs", headers=headers, json={
            "model": "lipsync-image", "formState": {"image": url, "audio": url, "seed": 3}})
        assert reply.status_code == 200, reply.text
        job_id = reply.json()["id"]
        job = (await client.get(f"/console/api/jobs/{job_id}")).json()
        assert job["status"] == "processing" and job["model"] == "lipsync-image"
        usage = (await client.get("/console/usage")).text
        assert job_id in usage and "Playground" in usage
        assert re.search(r'data-testid="credit-balance" value="990"', usage)  # the 5 s reserve


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"not json", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"formState": {}}', 400, "model"),
    (b'{"model": "lipsync-opera", "formState": {}}', 400, "model"),
    (b'{"model": "lipsync-image", "formState": {"image": 5}}', 400, None),
    (b'{"model": "lipsync-image", "formState": {"image": "https://x.test/a.png"}}', 400, "formState.audio"),
    (b'{"model": "lipsync-image", "formState": {"image": "ftp://x", "audio": "https://x.test/a"}}',
     400, "formState.image"),
    (b'{"model": "lipsync-image", "bogus": 1, "formState": {}}', 400, None),
])
async def test_playground_bad_input_is_a_clear_400(console: Console, body: bytes, status: int,
                                                   field: str | None) -> None:
    client = await signed_in(console, "kim@example.com")
    async with client:
        reply = await client.post("/console/api/jobs", content=body,
                                  headers={"X-CSRF-Token": await csrf(client)})
        assert reply.status_code == status, reply.text
        error = reply.json()
        assert error["error"] and error["code"]
        assert error.get("field") == field


async def test_playground_upload_limits(console: Console) -> None:
    client = await signed_in(console, "lee@example.com")
    async with client:
        headers = {"X-CSRF-Token": await csrf(client)}
        assert (await client.post("/console/api/files", content=b"", headers=headers)).status_code == 400
        too_big = await client.post("/console/api/files", content=bytes(65 * 1024), headers=headers)
        assert too_big.status_code == 413


async def test_jobs_page_shows_webhook_deliveries(console: Console) -> None:
    async def hook(request: Request) -> JSONResponse:
        return JSONResponse({"down": True}, status_code=503)

    port = free_port()
    receiver = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
                                             host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(receiver.serve())
    stop = asyncio.Event()
    webhooks = asyncio.create_task(serve_webhooks(console.settings, stop))
    try:
        client = await signed_in(console, "max@example.com")
        async with client:
            headers = {"X-CSRF-Token": await csrf(client)}
            reply = await client.post("/console/api/jobs", headers=headers, json={
                "model": "lipsync-image", "webhook": f"http://127.0.0.1:{port}/hook", "formState": FORM})
            job_id = reply.json()["id"]
            store = JobStore(console.redis)
            await store.fail(await store.get(job_id), "No face found in the image")
            for _ in range(100):
                page = (await client.get("/console/jobs")).text
                if 'data-testid="delivery-attempt"' in page:
                    break
                await asyncio.sleep(0.1)
            article = re.search(rf'<article[^>]*data-job-id="{job_id}".*?</article>', page, re.S)
            assert article, page
            attempt = re.search(r'<tr data-testid="delivery-attempt">(.*?)</tr>', article.group(0), re.S)
            assert attempt and ">503<" in attempt.group(1)
            assert "No face found in the image" in article.group(0)
    finally:
        stop.set()
        await webhooks
        receiver.should_exit = True
        await serving


# -- admins, sign-up ---------------------------------------------------------------------------

async def test_admin_sees_every_account_and_adds_credits(console: Console) -> None:
    other = await console.user("nia@example.com", credits=7)
    await AccountStore(console.redis).create_key("cli-only", credits=3)  # an account without users
    admin = await signed_in(console, "root@example.com", admin=True)
    async with admin:
        usage = (await admin.get("/console/usage")).text
        assert usage.count('data-testid="account-row"') == 3 and "nia@example.com" in usage
        token = csrf_of(usage)
        for bad in ("0", "-5", "abc", "10000000000", ""):
            reply = await admin.post("/console/usage/credits", data={
                "csrf_token": token, "account_id": other.account_id, "credits": bad})
            assert reply.status_code == 400 and 'data-testid="form-error"' in reply.text, bad
        unknown = await admin.post("/console/usage/credits", data={
            "csrf_token": token, "account_id": "feedfacefeedface", "credits": "5"})
        assert unknown.status_code == 400
        added = await admin.post("/console/usage/credits", data={
            "csrf_token": token, "account_id": other.account_id, "credits": "100"})
        assert added.status_code == 303
        assert await AccountStore(console.redis).credits(other.account_id) == 107


async def test_sign_up_is_off_by_default_and_on_with_the_setting(redis_server: RedisServer,
                                                                 redis: RedisClient, tmp_path: Path) -> None:
    async for console in _console(redis_server, redis, tmp_path):
        async with console.browser() as client:
            assert (await client.get("/console/sign-up")).headers["location"] == "/console/"
            page = await client.get("/console/")
            reply = await client.post("/console/sign-up", data={
                "email": "new@example.com", "password": PASSWORD,
                "csrf_token": hidden(page.text, "csrf_token")})
            assert reply.status_code == 400 and "Sign-up is closed" in reply.text
    await redis.flushdb()
    async for console in _console(redis_server, redis, tmp_path, console_signup=True):
        async with console.browser() as client:
            form = await client.get("/console/sign-up")
            token = hidden(form.text, "csrf_token")
            short = await client.post("/console/sign-up", data={
                "email": "new@example.com", "password": "short", "csrf_token": token})
            assert short.status_code == 400 and "10 to 1024" in short.text
            bad_email = await client.post("/console/sign-up", data={
                "email": "not-an-email", "password": PASSWORD, "csrf_token": token})
            assert bad_email.status_code == 400 and "name@example.com" in bad_email.text
            made = await client.post("/console/sign-up", data={
                "email": "new@example.com", "password": PASSWORD, "csrf_token": token})
            assert made.status_code == 303
            assert 'data-testid="credit-balance" value="0"' in (await client.get("/console/")).text
        async with console.browser() as again:
            form = await again.get("/console/sign-up")
            twice = await again.post("/console/sign-up", data={
                "email": "NEW@example.com", "password": PASSWORD,
                "csrf_token": hidden(form.text, "csrf_token")})
            assert twice.status_code == 400 and "already exists" in twice.text


# -- languages and headers ---------------------------------------------------------------------

async def test_language_from_accept_language_query_and_cookie(console: Console) -> None:
    async with console.browser(**{"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"}) as client:
        page = await client.get("/console/")
        assert '<html lang="ar" dir="rtl">' in page.text and "تسجيل الدخول" in page.text
        assert page.headers["content-language"] == "ar"
        japanese = await client.get("/console/", params={"lang": "ja"})
        assert '<html lang="ja" dir="ltr">' in japanese.text and "ログイン" in japanese.text
        assert "lipsync_lang=ja" in japanese.headers["set-cookie"]
        assert '<html lang="ja"' in (await client.get("/console/")).text  # remembered
        assert '<html lang="en" dir="ltr">' in (await client.get("/console/?lang=en")).text
        assert '<html lang="en"' in (await client.get("/console/?lang=xx")).text  # cookie en now


async def test_numbers_and_dates_are_localised(console: Console) -> None:
    client = await signed_in(console, "oda@example.com", credits=1234567)
    async with client:
        secret = await create_key(client, "k")
        await client.post("/api/v1/lipsync-image", json={"formState": FORM},
                          headers={"Authorization": f"Bearer {secret}"})
        english = (await client.get("/console/usage?lang=en")).text
        japanese = (await client.get("/console/usage?lang=ja")).text
        assert "1,234,557" in english  # the balance, grouped, beside the raw digits of the hook
        month_en = re.search(r"<td>([A-Z][a-z]{2} \d+, \d{4})", english)
        assert month_en, english
        assert re.search(r"<td>\d{4}/\d{2}/\d{2}", japanese)


async def test_every_console_answer_has_the_security_headers(console: Console) -> None:
    client = await signed_in(console, "pat@example.com")
    async with client:
        for path in ("/console/", "/console/keys", "/console/usage", "/console/playground",
                     "/console/jobs", "/console/docs"):
            reply = await client.get(path)
            assert reply.status_code == 200, path
            policy = reply.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy and reply.headers["x-frame-options"] == "DENY"
            assert reply.headers["cache-control"] == "no-store"
            # No inline script or style for the policy to block.
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", reply.text), path
            assert not re.search(r"\sstyle=|<style", reply.text), path
            assert not re.search(r"\son[a-z]+=", reply.text), path
        static = await client.get("/console/static/console.js")
        assert static.status_code == 200 and "javascript" in static.headers["content-type"]


async def test_api_reference_lists_every_operation_of_the_openapi_document(console: Console) -> None:
    client = await signed_in(console, "quinn@example.com")
    async with client:
        document = (await client.get("/openapi.json")).json()
        page = (await client.get("/console/docs")).text
        for path, item in document["paths"].items():
            for method, op in item.items():
                assert f'id="op-{op["operationId"]}"' in page, (method, path)
        assert "formState.image" in page  # request bodies flattened into field tables
