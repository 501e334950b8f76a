"""Screenshots of every web console page in English and Arabic, for docs/console/.

    python -m services.devtools.console_screenshots --out docs/console

Starts `lipsync dev` (its own data directory), gives it something to show (two keys, one
revoked; jobs by API key with a webhook that answers and one that is down; a job that fails; a
playground job rendered to the end), then saves `<page>-<lang>.png` for each page. Runs itself
inside a network namespace of its own (as the browser tests do), so the browser reaches nothing
but loopback; needs root and Debian's chromium (`make install` brings it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

from services.devtools import console_browser, netns, samples
from services.devtools.demo_stack import WebhookReceiver, start_stack_with_login, wait_ready
from services.devtools.process_stack import terminate
from services.devtools.redis_server import free_port

PAGES = {"sign-in": "/console/", "home": "/console/", "keys": "/console/keys", "usage": "/console/usage",
         "playground": "/console/playground", "jobs": "/console/jobs", "docs": "/console/docs"}
LANGUAGES = ("en", "ar")


def _jobs_by_api(base: str, key: str, work: Path, hook: str) -> None:
    face = samples.save_image(work / "face.png", samples.astronaut())
    samples.save_speech(work / "hello.wav", "Hello, and welcome to the console.")
    (work / "notes.txt").write_text("not an image")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        url = {p.name: api.post("/api/v1/files", content=p.read_bytes()).json()["url"]
               for p in (face, work / "hello.wav")}
        jobs = [
            {"webhook": hook, "formState": {"image": url["face.png"], "audio": url["hello.wav"], "seed": 7}},
            {"webhook": f"http://127.0.0.1:{free_port()}/down",  # nothing listens: retried, shown
             "formState": {"image": url["face.png"], "audio": url["hello.wav"], "resolution": "720p"}},
            {"formState": {"image": url["hello.wav"], "audio": url["hello.wav"]}},  # fails: not an image
        ]
        ids = [api.post("/api/v1/lipsync-image", json=job).json()["id"] for job in jobs]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if all(api.get(f"/api/v1/jobs/{i}").json()["status"] != "processing" for i in ids):
                return
            time.sleep(1)
        raise TimeoutError("the sample jobs did not finish")


def capture(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    receiver = WebhookReceiver()
    with tempfile.TemporaryDirectory(prefix="lipsync-screens-") as tmp:
        work = Path(tmp)
        process, base, key, _, (_, email, password) = start_stack_with_login(free_port(), work / "data")
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                wait_ready(client)
            _jobs_by_api(base, key, work, receiver.url)
            with console_browser.browser() as chromium:
                signed_out = chromium.new_context(viewport=console_browser.VIEWPORT).new_page()
                for lang in LANGUAGES:
                    signed_out.goto(f"{base}/console/?lang={lang}")
                    signed_out.screenshot(path=str(out / f"sign-in-{lang}.png"))
                page = chromium.new_context(viewport=console_browser.VIEWPORT).new_page()
                page.on("dialog", lambda dialog: dialog.accept())
                console_browser.sign_in(page, base, email, password)
                for name in ("staging", "production server"):
                    page.goto(f"{base}/console/keys")
                    page.fill('[data-testid="key-name"]', name)
                    page.click('[data-testid="create-key"]')
                staging = page.locator('[data-testid="key-row"]').filter(has_text="staging")
                staging.locator('[data-testid="revoke-key"]').click()
                page.wait_for_url(re.compile(r".*revoked=.*"))
                page.goto(f"{base}/console/keys")
                page.fill('[data-testid="key-name"]', "laptop")
                page.click('[data-testid="create-key"]')  # the secret, shown once, in the shot
                for lang in LANGUAGES:
                    page.goto(f"{base}/console/keys?lang={lang}")
                    page.fill('[data-testid="key-name"]', "ci")
                    page.click('[data-testid="create-key"]')
                    page.screenshot(path=str(out / f"keys-{lang}.png"), full_page=True)
                    for name in ("home", "usage", "jobs"):
                        page.goto(f"{base}{PAGES[name]}?lang={lang}")
                        page.screenshot(path=str(out / f"{name}-{lang}.png"), full_page=True)
                    page.goto(f"{base}/console/docs?lang={lang}")
                    page.screenshot(path=str(out / f"docs-{lang}.png"))  # the first screen: it is long
                    page.goto(f"{base}/console/playground?lang={lang}")
                    page.set_input_files('[data-testid="input-image"]', str(work / "face.png"))
                    page.set_input_files('[data-testid="input-audio"]', str(work / "hello.wav"))
                    page.fill('input[name="prompt"]', "smiling")
                    page.click('[data-testid="submit-job"]')
                    page.wait_for_function(
                        "() => { const v = document.querySelector('[data-testid=\"result-video\"]');"
                        " return v && v.readyState >= 2 && v.duration > 0; }", timeout=600_000)
                    page.eval_on_selector('[data-testid="result-video"]', "v => { v.currentTime = 1; }")
                    page.click("#show-code summary")
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(out / f"playground-{lang}.png"), full_page=True)
        finally:
            terminate(process, timeout=60)
            receiver.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    args = parser.parse_args(argv)
    if not netns.inside():
        why = netns.unavailable()
        if why:
            print(f"console_screenshots: {why}", file=sys.stderr)
            return 2
        done = netns.run_isolated([sys.executable, "-m", "services.devtools.console_screenshots",
                                   "--out", str(args.out.resolve())], timeout=1800)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    capture(args.out)
    print(f"wrote {len(list(args.out.glob('*.png')))} screenshots to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
