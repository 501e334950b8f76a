"""The web console in a real browser (Debian's chromium, driven by Playwright) against a real
`lipsync dev` (Redis, job service, inference worker rendering for real, webhooks, proxy).

The test re-runs itself inside a network namespace it makes (`unshare -n`, loopback up), so the
stack, the test's own HTTP calls and the browser's background requests all stay on that
namespace's loopback. As a user would: sign in with what `lipsync dev` prints, make a key and
read its secret, use it over HTTP, find the job in the jobs list and in usage, run a playground
job with uploaded files until the video plays, revoke the key (401 after), read every page in
Arabic (right to left, nothing untranslated) and Japanese; and as an attacker: a form post
without its CSRF token is 403, another user's job id is 404.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dev_process import running_dev

from services.devtools import console_browser, netns, samples
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/console/", "/console/keys", "/console/usage", "/console/playground", "/console/jobs",
         "/console/docs")


def test_console_in_a_browser(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not netns.inside():
        why = netns.unavailable() or (None if console_browser.chromium_path()
                                      else "chromium is not installed")
        if why:
            pytest.skip(why)
        done = netns.run_isolated([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "--basetemp", str(tmp_path / "inner"), request.node.nodeid],
                                  timeout=900, cwd=str(ROOT))
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        return
    _scenario(tmp_path)


def _scenario(tmp_path: Path) -> None:
    face = samples.save_image(tmp_path / "face.png", samples.astronaut())
    samples.save_speech(tmp_path / "hello.wav", "Hello there.")
    port = free_port()
    banner: list[str] = []
    with running_dev([sys.executable, "-m", "services.cli", "dev", "--port", str(port),
                      "--data-dir", str(tmp_path / "data")], port, ROOT, dict(os.environ),
                     timeout=120, banner=banner) as (base, _dev_key):
        login = re.search(r"Console: (\S+)\s+\(email (\S+), password (\S+)\)", "".join(banner))
        assert login, banner
        console_url, email, password = login.groups()
        assert console_url == f"{base}/console/"
        redis_url = re.search(r"Redis:\s+(\S+)", "".join(banner))
        assert redis_url
        with console_browser.browser() as chromium:
            context = chromium.new_context(viewport=console_browser.VIEWPORT, accept_downloads=True)
            page = context.new_page()
            page.on("dialog", lambda dialog: dialog.accept())  # the revoke confirmation
            console_browser.sign_in(page, base, email, password)

            # A key: made in the page, its secret read once, then used over HTTP.
            page.goto(f"{base}/console/keys")
            page.fill('[data-testid="key-name"]', "browser test")
            page.click('[data-testid="create-key"]')
            secret = page.input_value('[data-testid="new-key-secret"]')
            assert re.fullmatch(r"sk_[0-9a-f]+_[A-Za-z0-9]{43}", secret)
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
            urls = {name: api.post("/api/v1/files", content=path.read_bytes()).json()["url"]
                    for name, path in (("image", face), ("audio", tmp_path / "hello.wav"))}
            job_id = api.post("/api/v1/lipsync-image", json={"formState": urls}).json()["id"]
            page.goto(f"{base}/console/jobs")
            assert job_id in page.inner_text('[data-testid="job-row"]')
            page.goto(f"{base}/console/usage")
            assert page.locator(f'[data-testid="usage-row"][data-job-id="{job_id}"]').count() == 1
            assert "browser test" in page.inner_text(f'[data-testid="usage-row"][data-job-id="{job_id}"]')
            assert int(page.inner_text('[data-testid="credit-balance"]')) < 100_000

            # The playground: uploaded files, live progress, the video plays in the page.
            page.goto(f"{base}/console/playground")
            page.set_input_files('[data-testid="input-image"]', str(face))
            page.set_input_files('[data-testid="input-audio"]', str(tmp_path / "hello.wav"))
            page.click('[data-testid="submit-job"]')
            page.wait_for_function(
                "() => { const v = document.querySelector('[data-testid=\"result-video\"]');"
                " return v && v.readyState >= 2 && v.duration > 0; }", timeout=300_000)
            assert page.eval_on_selector('[data-testid="job-progress"]', "p => p.value") == 1
            page.click("#show-code summary")  # the same request as curl, Node and Python
            assert f"curl -X POST {base}/api/v1/lipsync-image" in page.inner_text("#code-curl")
            assert "sk_XXXX_YYYY" in page.inner_text("#code-node").replace("$LIPSYNC_API_KEY", "")

            # A form post without its CSRF token is refused.
            refused = page.request.post(f"{base}/console/keys", form={"name": "forged"})
            assert refused.status == 403

            # Revoke (the confirmation dialog is accepted above): the key answers 401 at once.
            page.goto(f"{base}/console/keys")
            row = page.locator(f'[data-testid="key-row"][data-key-id="{secret.split("_")[1]}"]')
            row.locator('[data-testid="revoke-key"]').click()
            page.wait_for_url(re.compile(r".*revoked=.*"))
            assert api.get("/api/v1/account").status_code == 401

            # Arabic: right to left, nothing left in English; Japanese likewise.
            for language, direction in (("ar", "rtl"), ("ja", "ltr")):
                for path in PAGES:
                    page.goto(f"{base}{path}?lang={language}")
                    assert page.get_attribute("html", "lang") == language
                    assert page.get_attribute("html", "dir") == direction
                    assert console_browser.untranslated(page, language) == [], (language, path)
            page.goto(f"{base}/console/?lang=en")

            # Another user (made with the CLI, as an operator would) cannot see this user's job.
            made = subprocess.run([sys.executable, "-m", "services.cli", "users", "create", "--email",
                                   "other@example.com", "--password-stdin"], input="another password\n",
                                  text=True, capture_output=True, timeout=60, cwd=ROOT,
                                  env={**os.environ, "LIPSYNC_REDIS_URL": redis_url.group(1)})
            assert made.returncode == 0, made.stderr
            other = chromium.new_context(viewport=console_browser.VIEWPORT).new_page()
            console_browser.sign_in(other, base, "other@example.com", "another password")
            assert other.request.get(f"{base}/console/api/jobs/{job_id}").status == 404
            other.goto(f"{base}/console/jobs")
            assert job_id not in other.content()
            api.close()
