"""`lipsync render` as a user runs it, inputs given as files and as http URLs on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks import serving_folder

from services.devtools import samples
from services.engine.media import av_io as media

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder of inputs and the loopback URL that serves it."""
    folder = tmp_path_factory.mktemp("served")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    samples.save_image(folder / "pair.png", samples.two_people())
    samples.save_speech(folder / "a.wav", "Mop the bump, Bob.")
    samples.save_speech(folder / "b.wav", "Hi, Pam.", variant="f1")
    with serving_folder(folder) as base:
        yield folder, base


def lipsync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_render_image_from_urls(served: tuple[Path, str], tmp_path: Path) -> None:
    _, base = served
    out = tmp_path / "out.mp4"
    done = lipsync("render", "image", "--image", f"{base}/face.png", "--audio", f"{base}/a.wav",
                   "--resolution", "720p", "--seed", "5", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "seed 5" in done.stdout
    info = media.probe_video(out)
    assert min(info.width, info.height) == 720


def test_render_multi_and_video_from_files(served: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = served
    multi = tmp_path / "multi.mp4"
    done = lipsync("render", "multi", "--image", str(folder / "pair.png"),
                   "--left-audio", str(folder / "a.wav"), "--right-audio", str(folder / "b.wav"),
                   "--order", "right_left", "-o", str(multi))
    assert done.returncode == 0, done.stderr
    dub = tmp_path / "dub.mp4"
    done = lipsync("render", "video", "--video", str(multi), "--audio", str(folder / "b.wav"),
                   "-o", str(dub))
    # The multi render has two faces; the dub animates the larger one.
    assert done.returncode == 0, done.stderr
    assert media.probe_video(dub).seconds is not None


def test_unreachable_url_is_one_clear_line(served: tuple[Path, str], tmp_path: Path) -> None:
    _, base = served
    done = lipsync("render", "image", "--image", f"{base}/missing.png", "--audio", f"{base}/a.wav",
                   "-o", str(tmp_path / "o.mp4"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"lipsync: error: Could not fetch {base}/missing.png: HTTP 404"]


def test_bad_choice_is_rejected_by_the_parser(tmp_path: Path) -> None:
    done = lipsync("render", "image", "--image", "a.png", "--audio", "b.wav",
                   "--resolution", "1080p", "-o", str(tmp_path / "o.mp4"))
    assert done.returncode == 2
    assert "invalid choice: '1080p'" in done.stderr
