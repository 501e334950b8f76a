"""Face analysis on real public-domain faces from registry packages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.engine import face_landmarks as fl
from services.engine import faces, samples
from services.engine.errors import FaceTooSmall, NoFaceError


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return samples.astronaut()


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return samples.grace_hopper()


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_one_face_with_a_sensible_layout(name: str, request: pytest.FixtureRequest) -> None:
    image = request.getfixturevalue(name)
    (face,) = faces.select_faces(image)
    lm = face.landmarks
    assert lm.shape == (468, 3)
    x0, _, x1, _ = face.box
    assert (lm[:, 0] >= x0 - 1).all() and (lm[:, 0] <= x1 + 1).all()
    nose = lm[fl.NOSE_TIP]
    assert lm[fl.MOUTH_RIGHT, 0] < nose[0] < lm[fl.MOUTH_LEFT, 0]
    right_eye, left_eye = fl.eye_centers(lm)
    assert max(right_eye[1], left_eye[1]) < nose[1] < lm[fl.UPPER_INNER_LIP_MID, 1] < lm[fl.CHIN, 1]


def test_two_people_ordered_left_to_right() -> None:
    pair = samples.two_people()
    left, right = faces.select_faces(pair, count=2)
    split = samples.astronaut().shape[1] * 512 // 512  # the astronaut is 512 wide at height 512
    assert left.center[0] < split < right.center[0]


def test_mask_picks_the_face(hopper: np.ndarray) -> None:
    pair = samples.two_people()
    mask = np.zeros(pair.shape[:2], np.float32)
    mask[:, pair.shape[1] // 2:] = 1.0
    (face,) = faces.select_faces(pair, count=1, mask=mask)
    assert face.center[0] > pair.shape[1] / 2


def test_no_face_is_a_clear_error() -> None:
    from skimage import data

    with pytest.raises(NoFaceError, match="No face found in the image"):
        faces.select_faces(data.coffee())
    with pytest.raises(NoFaceError):
        faces.select_faces(np.full((300, 300, 3), 128, np.uint8))


def test_multi_needs_two_faces(astronaut: np.ndarray) -> None:
    with pytest.raises(NoFaceError, match="needs two people"):
        faces.select_faces(astronaut, count=2)


def test_face_too_small(astronaut: np.ndarray) -> None:
    (face,) = faces.select_faces(astronaut)
    with pytest.raises(FaceTooSmall, match="too small"):
        faces.select_faces(astronaut, min_size=int(face.size) + 50)


def test_tracking_is_steady_on_a_still_picture(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    tracker = faces.FaceTracker(face)
    tracked = [tracker.track(hopper) for _ in range(25)]
    points = np.stack([t.landmarks[:, :2] for t in tracked if t is not None])
    assert len(points) == 25
    # After a few frames settling from the detector's crop, no landmark shimmers.
    jitter = np.abs(np.diff(points[5:], axis=0)).max()
    assert jitter < 0.5


def test_tracking_follows_a_moving_face(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    tracker = faces.FaceTracker(face)
    h, w = hopper.shape[:2]
    nose_x = []
    for step in range(15):
        shift = np.float32([[1, 0, 4 * step], [0, 1, 2 * step]])
        moved = cv2.warpAffine(hopper, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
        tracked = tracker.track(moved)
        assert tracked is not None
        nose_x.append(tracked.landmarks[fl.NOSE_TIP, 0])
    # 4 px a frame to the right; the filter may lag a little but follows.
    assert nose_x[-1] - nose_x[0] == pytest.approx(56, abs=8)


def test_mouth_opening_rises_when_the_jaw_drops(hopper: np.ndarray) -> None:
    from services.engine.animator import FaceAnimator
    from services.engine.mouth_warp import MouthShapeFrame

    (face,) = faces.select_faces(hopper)
    animator = FaceAnimator(hopper, face.landmarks)
    readings = []
    for open_ in (0.0, 0.5, 1.0):
        frame = hopper.copy()
        animator.render(hopper, frame, MouthShapeFrame(open_, 0.2, 0.0))
        (seen,) = faces.select_faces(frame)
        readings.append(fl.mouth_opening(seen.landmarks))
    assert readings[0] < 0.05 < readings[1] < readings[2]
