"""The console's live page in a real browser: Debian's chromium with a fake microphone playing
speech (`--use-file-for-fake-audio-capture`) against a real `lipsync dev`, until the portrait's
video plays on the page.

The test re-runs itself inside a network namespace where only loopback exists
(`services.devtools.netns`: 127.0.0.2 besides 127.0.0.1, for WebRTC's host candidates),
so the browser's WebRTC traffic and everything else stay on loopback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dev_process import running_dev

from services.devtools import console_browser, netns, samples
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
INSIDE = "LIPSYNC_IN_WEBRTC_NETNS"
FRAMES = 50  # two seconds of the portrait, decoded and shown


def test_live_page_in_a_browser(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if os.environ.get(INSIDE) != "1":
        why = netns.unavailable() or (None if console_browser.chromium_path()
                                             else "chromium is not installed")
        if why:
            pytest.skip(why)
        command = netns.loopback_only([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                              "--basetemp", str(tmp_path / "inner"), request.node.nodeid])
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, INSIDE: "1"}, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        return
    _scenario(tmp_path)


def _scenario(tmp_path: Path) -> None:
    face = samples.save_image(tmp_path / "face.png", samples.astronaut())
    voice = tmp_path / "voice.wav"
    samples.save_speech(voice, "Hello there. I am speaking to you live, from a little browser.")
    port = free_port()
    banner: list[str] = []
    with running_dev([sys.executable, "-m", "services.cli", "dev", "--port", str(port),
                      "--data-dir", str(tmp_path / "data")], port, ROOT, dict(os.environ),
                     timeout=120, banner=banner) as (base, _key):
        login = re.search(r"Console: (\S+)\s+\(email (\S+), password (\S+)\)", "".join(banner))
        assert login, banner
        _, email, password = login.groups()
        fake_microphone = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                           f"--use-file-for-fake-audio-capture={voice}",
                           "--allow-loopback-in-peer-connection"]
        with console_browser.browser(fake_microphone) as chromium:
            context = chromium.new_context(viewport=console_browser.VIEWPORT)
            context.grant_permissions(["microphone"], origin=base)
            page = context.new_page()
            console_browser.sign_in(page, base, email, password)
            page.goto(f"{base}/console/")
            assert page.locator('[data-nav="live"]').count() == 1  # in the navigation
            page.goto(f"{base}/console/live")
            page.set_input_files('[data-testid="input-image"]', str(face))
            page.click('[data-testid="live-start"]')
            try:
                page.wait_for_function(
                    """(n) => { const v = document.querySelector('[data-testid="live-video"]');
                                return v && v.videoWidth > 0
                                    && v.getVideoPlaybackQuality().totalVideoFrames >= n; }""",
                    arg=FRAMES, timeout=60_000)
            except Exception:
                raise AssertionError(page.inner_text('[data-testid="live-error"]')
                                     + page.inner_text('[data-testid="live-status"]')) from None
            width = page.evaluate('document.querySelector(\'[data-testid="live-video"]\').videoWidth')
            assert width == 480
            page.click('[data-testid="live-stop"]')
            page.wait_for_function(
                """() => document.querySelector('[data-testid="live-stop"]').disabled""")
