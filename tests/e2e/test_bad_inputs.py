"""Bad inputs end in one clear error, from the engine and from the CLI."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from services.devtools import samples
from services.engine.engine_errors import FaceTooSmall, MediaError, MediaTooLarge, NoFaceError, SilentAudio
from services.engine.render import renderer as render


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("good")
    samples.save_speech(folder / "speech.wav", "Hello, Bob.")
    return {"face": samples.save_image(folder / "face.png", samples.astronaut()),
            "speech": folder / "speech.wav"}


def write_wav(path: Path, samples_: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(samples_.astype("<i2").tobytes())
    return path


def test_text_file_is_not_an_image(good: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "face.png"
    fake.write_text("this is not a picture")
    with pytest.raises(MediaError, match="image"):
        render.render_image(fake, good["speech"], tmp_path / "o.mp4")


def test_image_given_as_audio(good: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="audio"):
        render.render_image(good["face"], good["face"], tmp_path / "o.mp4")


def test_corrupt_audio(good: dict[str, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "speech.mp3"
    corrupt.write_bytes(b"ID3" + bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8)))
    with pytest.raises(MediaError):
        render.render_image(good["face"], corrupt, tmp_path / "o.mp4")


def test_zero_length_audio(good: dict[str, Path], tmp_path: Path) -> None:
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(MediaError, match=r"empty|zero"):
        render.render_image(good["face"], empty, tmp_path / "o.mp4")


def test_silent_audio(good: dict[str, Path], tmp_path: Path) -> None:
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000))
    with pytest.raises(SilentAudio, match="silent"):
        render.render_image(good["face"], silent, tmp_path / "o.mp4")


def test_no_face(good: dict[str, Path], tmp_path: Path) -> None:
    from skimage import data

    coffee = samples.save_image(tmp_path / "coffee.png", data.coffee())
    with pytest.raises(NoFaceError, match="No face found"):
        render.render_image(coffee, good["speech"], tmp_path / "o.mp4")


def test_face_too_small(good: dict[str, Path], tmp_path: Path) -> None:
    tiny_face = np.full((1440, 1440, 3), 200, np.uint8)
    tiny_face[:40, :40] = samples.astronaut()[::13, ::13][:40, :40]
    path = samples.save_image(tmp_path / "tiny.png", tiny_face)
    with pytest.raises((FaceTooSmall, NoFaceError)):
        render.render_image(path, good["speech"], tmp_path / "o.mp4")


def test_huge_dimensions_refused_before_decoding(good: dict[str, Path], tmp_path: Path) -> None:
    wide = samples.save_image(tmp_path / "wide.png", np.zeros((4, 9000, 3), np.uint8))
    with pytest.raises(MediaTooLarge, match="9000x4"):
        render.render_image(wide, good["speech"], tmp_path / "o.mp4")


def test_two_faces_needed_for_multi(good: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NoFaceError, match="two"):
        render.render_multi(good["face"], good["speech"], good["speech"], tmp_path / "o.mp4")


def test_cli_prints_one_line_and_exits_nonzero(good: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "face.png"
    fake.write_text("nope")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "render", "image", "--image", str(fake),
         "--audio", str(good["speech"]), "-o", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipsync: error: Invalid image file")
    assert lines[0].endswith("is not an image (it looks like a text file)")


def test_cli_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "render", "image", "--image", "nope.png",
         "--audio", "nope.wav", "-o", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "nope.png: no such file" in done.stderr
