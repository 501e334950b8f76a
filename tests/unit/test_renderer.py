"""The renderer's pieces: warps leave the picture alone at rest, open the mouth when asked,
blink, and keep the closure of p/b/m."""

from __future__ import annotations

import numpy as np
import pytest

from services.devtools import samples
from services.engine.faces import face_boxes as faces
from services.engine.mouth.mouth_track import shapes_for_render
from services.engine.mouth.visemes import N_VISEMES, Viseme
from services.engine.render.animator import FaceAnimator, HeadPose
from services.engine.render.eye_warp import eyes_of, warp_eye
from services.engine.render.idle_motion import blink_track, head_track
from services.engine.render.mouth_warp import MouthFrame, MouthShapeFrame, MouthWarper


@pytest.fixture(scope="module")
def hopper() -> tuple[np.ndarray, np.ndarray]:
    image = samples.grace_hopper()
    (face,) = faces.select_faces(image)
    return image, face.landmarks


def test_rest_shape_barely_touches_a_closed_mouth(hopper: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = hopper
    out = image.copy()
    FaceAnimator(image, landmarks).render(image, out, MouthShapeFrame(0.0, 0.2, 0.0))
    diff = np.abs(out.astype(int) - image.astype(int))
    # Grace Hopper's lips are already shut: only a hair's breadth of change, and no seam.
    assert diff.mean() < 0.2
    assert np.percentile(diff, 99.9) < 40


def test_open_mouth_shows_a_dark_interior(hopper: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = hopper
    frame = MouthFrame.from_landmarks(landmarks)
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    warper = MouthWarper(frame, xs, ys)
    shut = warper.warp(MouthShapeFrame(0.0, 0.2, 0.0))
    wide = warper.warp(MouthShapeFrame(1.0, 0.5, 0.0))
    assert shut.interior_alpha.max() == 0.0
    area = (wide.interior_alpha > 0.5).sum()
    expected = np.pi / 4 * (2 * frame.half_width) * wide.gap_px  # roughly a lens
    assert 0.4 * expected < area < 1.6 * expected

    out = image.copy()
    FaceAnimator(image, landmarks).render(image, out, MouthShapeFrame(1.0, 0.5, 0.0))
    centre = landmarks[[13, 14], :2].mean(axis=0) + np.array([0, wide.gap_px * 0.6])
    x, y = int(centre[0]), int(centre[1])
    assert out[y - 1:y + 2, x - 1:x + 2].mean() < image[y - 1:y + 2, x - 1:x + 2].mean()


def test_blink_closes_the_eye(hopper: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = hopper
    eye = eyes_of(landmarks)[0]
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    open_x, open_y = warp_eye(eye, xs, ys, 0.0)
    assert np.allclose(open_x, xs, atol=1e-3) and np.allclose(open_y, ys, atol=1e-3)
    _, shut_y = warp_eye(eye, xs, ys, 1.0)
    # Pixels at the eye's centre now come from above it (the lid).
    cx, cy = eye.center.astype(int)
    assert shut_y[cy, cx] < cy - 0.5


def test_head_motion_moves_the_head_not_the_corners(hopper: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = hopper
    out = image.copy()
    FaceAnimator(image, landmarks).render(image, out, MouthShapeFrame(0.0, 0.2, 0.0),
                                          pose=HeadPose(0.02, 0.01, 0.0))
    assert not np.array_equal(out, image)
    assert np.array_equal(out[:5, :5], image[:5, :5])


def test_idle_tracks_are_seeded_and_gentle() -> None:
    a = blink_track(500, 25, np.random.default_rng(1))
    b = blink_track(500, 25, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert 2 <= (np.diff((a > 0.9).astype(int)) == 1).sum() <= 10  # blinks every 2-6 s
    pose = head_track(500, 25, np.random.default_rng(1))
    assert np.abs(pose[0]).max() == 0.0  # starts at the photo's own pose
    assert np.abs(pose[:, 0]).max() < np.deg2rad(3)
    assert np.abs(np.diff(pose, axis=0)).max() < 0.01  # smooth, no jumps


def test_closure_probability_shuts_the_lips() -> None:
    shapes = np.full((10, 3), 0.5, np.float32)
    probs = np.zeros((10, N_VISEMES), np.float32)
    probs[:, Viseme.OPEN_VOWEL] = 1.0
    probs[4:6, Viseme.OPEN_VOWEL] = 0.0
    probs[4:6, Viseme.BILABIAL] = 1.0
    out = shapes_for_render(shapes, probs)
    assert (out[4:6, 0] == 0.0).all()
    assert (out[[0, 9], 0] > 0.4).all()
