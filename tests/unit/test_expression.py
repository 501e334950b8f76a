"""A style's effect on the pixels: presets move the mouth corners, brows and lids they name and
nothing far from them; expressiveness, blinks and stillness change the tracks; the same seed
and prompt render the same frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from services.devtools import samples
from services.engine.faces import face_boxes as faces
from services.engine.faces import face_landmarks as fl
from services.engine.media import speech
from services.engine.render import renderer as render
from services.engine.render.expression import PRESETS, RIGHT_BROW, apply_expression, styled_shapes
from services.engine.render.idle_motion import blink_track, head_track
from services.engine.render.style import parse_prompt


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    image = samples.astronaut()
    (face,) = faces.select_faces(image)
    return image, face.landmarks


def _box_diff(a: np.ndarray, b: np.ndarray, centre: np.ndarray, radius: float) -> float:
    x, y, r = int(centre[0]), int(centre[1]), int(radius)
    return float(np.abs(a[y - r:y + r, x - r:x + r].astype(int) - b[y - r:y + r, x - r:x + r]).mean())


def test_neutral_is_the_very_same_picture(astronaut: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = astronaut
    out, moved = apply_expression(image, landmarks, PRESETS["neutral"])
    assert out is image and moved is landmarks


def test_presets_move_what_they_name(astronaut: tuple[np.ndarray, np.ndarray]) -> None:
    image, lm = astronaut
    xy = lm[:, :2]
    mouth_half = float(np.linalg.norm(xy[fl.MOUTH_LEFT] - xy[fl.MOUTH_RIGHT])) / 2
    corner = xy[fl.MOUTH_RIGHT]
    brow = xy[list(RIGHT_BROW)].mean(axis=0)
    eye_open = float(xy[145, 1] - xy[159, 1])
    size = float(max(xy.max(axis=0) - xy.min(axis=0)))
    far = xy.max(axis=0) + 0.31 * size + 2  # below and right of the face (and its margin)

    smiling, smiled = apply_expression(image, lm, PRESETS["smiling"])
    # The corners rise (by about 0.16 half mouth widths); the brows stay where they were.
    assert smiled[fl.MOUTH_RIGHT, 1] < corner[1] - 0.1 * mouth_half
    assert smiled[fl.MOUTH_LEFT, 1] < xy[fl.MOUTH_LEFT, 1] - 0.1 * mouth_half
    assert _box_diff(smiling, image, corner, 0.4 * mouth_half) > 3.0
    assert _box_diff(smiling, image, brow, 10) < 0.5

    serious, sober = apply_expression(image, lm, PRESETS["serious"])
    assert sober[fl.MOUTH_RIGHT, 1] > corner[1] + 0.03 * mouth_half
    assert sober[list(RIGHT_BROW), 1].mean() > brow[1] + 1.0  # brows lower
    assert _box_diff(serious, image, brow, 10) > 2.0

    surprised, wide = apply_expression(image, lm, PRESETS["surprised"])
    assert wide[list(RIGHT_BROW), 1].mean() < brow[1] - 2.0  # brows up
    assert wide[145, 1] - wide[159, 1] > 1.15 * eye_open  # the eye opens wider
    assert _box_diff(surprised, image, brow, 10) > 3.0

    for out in (smiling, serious, surprised):
        assert np.array_equal(out[int(far[1]):, :], image[int(far[1]):, :])
        assert np.array_equal(out[:, int(far[0]):], image[:, int(far[0]):])


def test_expressiveness_scales_the_mouth_and_keeps_closures() -> None:
    shapes = np.array([[0.0, 0.2, 0.0], [0.4, 0.5, 0.3], [0.9, 0.6, 0.1]], np.float32)
    assert styled_shapes(shapes) is shapes
    more = styled_shapes(shapes, 1.5)
    less = styled_shapes(shapes, 0.5)
    assert more[0, 0] == less[0, 0] == 0.0  # p/b/m stay shut
    assert more[1, 0] > shapes[1, 0] > less[1, 0]
    assert more[:, 0].max() < 1.0  # within the conversational range
    assert more[1, 1] > shapes[1, 1] > less[1, 1]


def test_blink_rate_and_stillness() -> None:
    default = blink_track(750, 25, np.random.default_rng(4))
    assert np.array_equal(blink_track(750, 25, np.random.default_rng(4), 1.0), default)
    assert not blink_track(750, 25, np.random.default_rng(4), 0.0).any()

    def count(track: np.ndarray) -> int:
        return int((np.diff((track > 0.9).astype(int)) == 1).sum())

    assert count(blink_track(750, 25, np.random.default_rng(4), 2.0)) > count(default)
    assert not head_track(100, 25, np.random.default_rng(1), scale=0.0).any()
    sway = head_track(100, 25, np.random.default_rng(1))
    assert np.allclose(head_track(100, 25, np.random.default_rng(1), scale=1.5), 1.5 * sway)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _talking(audio: np.ndarray, frames: int) -> np.ndarray:
    shapes = np.zeros((frames, 3), np.float32)
    shapes[:, 0] = 0.5 + 0.5 * np.sin(np.arange(frames) / 3.0)
    shapes[:, 1] = 0.3
    return shapes


def test_same_seed_and_prompt_same_frames(tmp_path: Path, astronaut: tuple[np.ndarray, np.ndarray]) -> None:
    image = samples.save_image(tmp_path / "face.png", astronaut[0])
    t = np.arange(24_000) / 24_000
    audio = tmp_path / "tone.wav"
    speech.save_wav(audio, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 24_000)

    def run(name: str, prompt: str | None) -> list[np.ndarray]:
        style = None if prompt is None else parse_prompt(prompt)
        render.render_image(image, audio, tmp_path / f"{name}.mp4", seed=11, shapes_from=_talking,
                            style=style)
        return _frames(tmp_path / f"{name}.mp4")

    plain, empty = run("plain", None), run("empty", "")
    assert all(np.array_equal(a, b) for a, b in zip(plain, empty, strict=True))
    first, second = run("first", "smiling, blink more"), run("second", "smiling, blink more")
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[-1], plain[-1])
