"""Face analysis on real public-domain faces from registry packages (scikit-image's astronaut,
matplotlib's Grace Hopper): detection, landmark layout, selection errors, tracking, mouth measures."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from services.devtools import samples
from services.engine.engine_errors import FaceTooSmall, NoFaceError
from services.engine.faces import face_boxes as faces
from services.engine.faces import face_detector
from services.engine.faces import face_landmarks as fl


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return samples.astronaut()


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return samples.grace_hopper()


@pytest.fixture(scope="module")
def pair() -> np.ndarray:
    return samples.two_people()


def _shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _hull_area(points: np.ndarray) -> float:
    return float(cv2.contourArea(cv2.convexHull(points.astype(np.float32))))


def _warp(image: np.ndarray, angle_deg: float = 0.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# --- detection and landmark layout ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_one_face_with_a_sensible_layout(name: str, request: pytest.FixtureRequest) -> None:
    image = request.getfixturevalue(name)
    found = faces.detect(image)
    assert len(found) == 1
    face = found[0]
    lm = face.landmarks
    assert lm.shape == (468, 3) and lm.dtype == np.float32
    assert 0.5 <= face.score <= 1.0
    assert face.box == faces.Face(face.box, lm, face.score).box
    x0, y0, x1, y1 = face.box
    assert (lm[:, 0] >= x0).all() and (lm[:, 0] <= x1).all()
    assert (lm[:, 1] >= y0).all() and (lm[:, 1] <= y1).all()
    # The detector's own keypoints (eyes, nose, mouth) fall inside the landmarks' box.
    (detection,) = [d for d in face_detector.detect_faces(image) if d.score > 0.8]
    kx, ky = detection.keypoints[:4, 0], detection.keypoints[:4, 1]
    assert ((kx > x0) & (kx < x1) & (ky > y0) & (ky < y1)).all()
    nose = lm[fl.NOSE_TIP]
    assert lm[fl.MOUTH_RIGHT, 0] < nose[0] < lm[fl.MOUTH_LEFT, 0]
    right_eye, left_eye = fl.eye_centers(lm)
    assert right_eye[0] < nose[0] < left_eye[0]  # unmirrored: subject's right eye on image left
    mouth_y = (lm[fl.UPPER_INNER_LIP_MID, 1] + lm[fl.LOWER_INNER_LIP_MID, 1]) / 2
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth_y < lm[fl.CHIN, 1]


def test_contours_are_ordered_loops(hopper: np.ndarray) -> None:
    (face,) = faces.detect(hopper)
    xy = face.landmarks[:, :2]
    for loop in (fl.FACE_OVAL, fl.OUTER_LIPS, fl.RIGHT_EYE, fl.LEFT_EYE):
        assert len(set(loop)) == len(loop) and all(0 <= i < 468 for i in loop)
        pts = xy[list(loop)]
        # A loop in contour order encloses (nearly) its convex hull; a shuffled one does not.
        assert _shoelace(pts) > 0.8 * _hull_area(pts), loop
    inner = xy[list(fl.INNER_LIPS)].mean(axis=0)
    outer = xy[list(fl.OUTER_LIPS)].astype(np.float32)
    assert cv2.pointPolygonTest(outer.reshape(-1, 1, 2), (float(inner[0]), float(inner[1])), False) > 0
    lids = ((fl.RIGHT_EYE_UPPER, fl.RIGHT_EYE_LOWER), (fl.LEFT_EYE_UPPER, fl.LEFT_EYE_LOWER))
    for upper, lower in lids:
        assert xy[list(upper[2:-2]), 1].mean() < xy[list(lower[2:-2]), 1].mean()


def test_two_people_ordered_left_to_right(
    astronaut: np.ndarray, hopper: np.ndarray, pair: np.ndarray
) -> None:
    left, right = faces.select_faces(pair, count=2)
    assert left.center[0] < 512 < right.center[0]
    # Which is which: each matches the face found in its own portrait, moved into the pair.
    (alone_left,) = faces.detect(astronaut)
    (alone_right,) = faces.detect(hopper)
    scale = 512 / hopper.shape[0]
    expected_right = alone_right.landmarks[fl.NOSE_TIP, :2] * scale + (512, 0)
    assert np.abs(left.landmarks[fl.NOSE_TIP, :2] - alone_left.landmarks[fl.NOSE_TIP, :2]).max() < 4
    assert np.abs(right.landmarks[fl.NOSE_TIP, :2] - expected_right).max() < 4


def test_a_group_of_small_faces_is_found(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    """Six heads of 75-150 px in a 480p frame: too small for one pass of the short-range model."""
    canvas = np.full((480, 854, 3), 90, np.uint8)
    heads = [astronaut[20:300, 110:360], hopper[60:460, 110:420]]
    x = 10
    for i, height in enumerate((150, 110, 90, 75, 130, 100)):
        head = heads[i % 2]
        size = (round(head.shape[1] * height / head.shape[0]), height)
        head = cv2.resize(head, size, interpolation=cv2.INTER_AREA)
        y = 100 + (i * 37) % 200
        canvas[y : y + height, x : x + head.shape[1]] = head
        x += head.shape[1] + 15
    found = faces.detect(canvas, min_face=32)
    assert len(found) == 6
    centers = [f.center[0] for f in found]
    assert centers == sorted(centers)


def test_mask_picks_the_face(pair: np.ndarray) -> None:
    h, w = pair.shape[:2]
    right_half = np.zeros((h, w), np.uint8)
    right_half[:, w // 2 :] = 255
    (face,) = faces.select_faces(pair, count=1, mask=right_half)
    assert face.center[0] > w / 2
    left_half = np.zeros((h, w), bool)
    left_half[:, : w // 2] = True
    (face,) = faces.select_faces(pair, count=1, mask=left_half)
    assert face.center[0] < w / 2
    # A mask at another resolution (and float, as some callers pass it) is scaled to the image.
    small = cv2.resize(right_half, (w // 4, h // 4), interpolation=cv2.INTER_NEAREST).astype(np.float32) / 255
    (face,) = faces.select_faces(pair, count=1, mask=small)
    assert face.center[0] > w / 2
    floor = np.zeros((h, w), np.uint8)
    floor[-40:] = 255
    with pytest.raises(NoFaceError, match="inside the mask"):
        faces.select_faces(pair, mask=floor)


def test_no_face_is_a_clear_error() -> None:
    from skimage import data

    noise = np.random.default_rng(0).integers(0, 256, (360, 480, 3), dtype=np.uint8)
    for image in (data.coffee(), np.full((300, 300, 3), 128, np.uint8), noise):
        with pytest.raises(NoFaceError, match=r"^No face found in the image$"):
            faces.select_faces(image)


def test_multi_needs_two_faces(astronaut: np.ndarray) -> None:
    with pytest.raises(NoFaceError, match=r"^Found 1 face; this needs two people side by side$"):
        faces.select_faces(astronaut, count=2)


def test_face_too_small(astronaut: np.ndarray) -> None:
    tiny = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)  # face ~30 px
    with pytest.raises(FaceTooSmall, match=r"too small: 3\d px across, at least 48 px"):
        faces.select_faces(tiny)
    (face,) = faces.select_faces(tiny, min_size=24)
    assert 25 < face.size < 40


def test_grey_and_rgba_images_are_accepted(astronaut: np.ndarray) -> None:
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    assert len(faces.detect(rgba)) == 1
    assert len(faces.detect(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))) == 1


def test_analyzer_is_thread_safe(astronaut: np.ndarray, hopper: np.ndarray) -> None:
    expected = {id(img): faces.detect(img)[0].landmarks for img in (astronaut, hopper)}
    errors: list[str] = []

    def work(image: np.ndarray) -> None:
        for _ in range(3):
            got = faces.detect(image)[0].landmarks
            if not np.allclose(got, expected[id(image)], atol=1e-3):
                errors.append("mismatch")

    threads = [threading.Thread(target=work, args=(img,)) for img in (astronaut, hopper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- tracking ------------------------------------------------------------------------------------


def test_tracking_is_steady_on_a_still_picture(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    tracker = faces.FaceTracker(face)
    tracked = [tracker.track(hopper) for _ in range(20)]
    points = np.stack([t.landmarks[:, :2] for t in tracked if t is not None])
    assert len(points) == 20
    assert np.abs(np.diff(points, axis=0)).max() < 0.5


def test_tracking_is_steady_on_a_noisy_still_video(astronaut: np.ndarray) -> None:
    """Camera noise changes every frame; the One Euro filter keeps the landmarks still."""
    rng = np.random.default_rng(1)
    noisy = [astronaut + rng.normal(0, 4, astronaut.shape) for _ in range(20)]
    frames = [np.clip(f, 0, 255).astype(np.uint8) for f in noisy]
    (face,) = faces.select_faces(astronaut)
    raw_tracker = faces.FaceTracker(face, smooth=False)
    smooth_tracker = faces.FaceTracker(face)
    raw = np.stack([raw_tracker.track(f).landmarks[:, :2] for f in frames])  # type: ignore[union-attr]
    smooth = np.stack([smooth_tracker.track(f).landmarks[:, :2] for f in frames])  # type: ignore[union-attr]
    raw_step, smooth_step = np.abs(np.diff(raw, axis=0)), np.abs(np.diff(smooth, axis=0))
    assert smooth_step.max() < 0.5
    assert smooth_step.mean() < 0.5 * raw_step.mean()


def test_tracking_follows_a_moving_turning_face(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    tracker = faces.FaceTracker(face)
    start = face.landmarks[:, :2].astype(np.float64)
    h, w = hopper.shape[:2]
    offsets = []  # tracked minus where the first frame's landmarks move to, per landmark
    for step in range(15):
        angle, dx, dy = 0.8 * step, 4.0 * step, 2.0 * step
        tracked = tracker.track(_warp(hopper, angle, dx, dy))
        assert tracked is not None
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        m[:, 2] += (dx, dy)
        offsets.append(tracked.landmarks[:, :2] - (start @ m[:, :2].T + m[:, 2]))
    offset = np.array(offsets)
    # Follows the face (the filter may trail by a pixel or two) ...
    assert np.median(np.linalg.norm(offset, axis=2), axis=1).max() < 4.0
    # ... and smoothly: the typical landmark wobbles by about a pixel at most between frames.
    assert np.median(np.linalg.norm(np.diff(offset, axis=0), axis=2), axis=1).max() < 1.5


def test_tracking_recovers_after_the_face_leaves(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    tracker = faces.FaceTracker(face)
    blank = np.full_like(hopper, 100)
    results = [tracker.track(f) for f in (hopper, blank, blank, hopper)]
    assert results[0] is not None and results[1] is None and results[2] is None
    assert results[3] is not None
    assert np.abs(results[3].landmarks[fl.NOSE_TIP] - face.landmarks[fl.NOSE_TIP])[:2].max() < 3


def test_two_faces_tracked_side_by_side(pair: np.ndarray) -> None:
    chosen = faces.select_faces(pair, count=2)
    tracker = faces.MultiFaceTracker(chosen)
    for step in range(8):
        left, right = tracker.track(_warp(pair, 0.0, 2.0 * step, 0.0))
        assert left is not None and right is not None
        assert left.center[0] < 512 + 2 * step < right.center[0]
        assert abs(left.center[0] - chosen[0].center[0] - 2 * step) < 3


# --- mouth measures ------------------------------------------------------------------------------


def _drop_jaw(image: np.ndarray, landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Open the mouth: move the lower lip and chin down by `amount` pixels (fading out sideways
    and below the chin) and fill the gap with a dark mouth interior."""
    h, w = image.shape[:2]
    lip_y = float((landmarks[fl.UPPER_INNER_LIP_MID, 1] + landmarks[fl.LOWER_INNER_LIP_MID, 1]) / 2)
    chin_y = float(landmarks[fl.CHIN, 1])
    left, right = float(landmarks[fl.MOUTH_RIGHT, 0]), float(landmarks[fl.MOUTH_LEFT, 0])
    cx, half = (left + right) / 2, (right - left) * 0.55
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    across = np.clip(1 - ((xs - cx) / half) ** 2, 0, 1)
    below_lips = np.clip((ys - lip_y) / 2.0, 0, 1)
    above_neck = np.clip(1 - (ys - chin_y - amount) / (0.6 * (chin_y - lip_y)), 0, 1)
    down = below_lips * above_neck
    shift = amount * across * down
    src_y = ys - shift
    out = cv2.remap(image, xs, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gap = (ys >= lip_y) & (src_y < lip_y)
    out[gap] = (40, 10, 15)
    return out


def test_mouth_opening_rises_as_the_mouth_opens(hopper: np.ndarray) -> None:
    (face,) = faces.select_faces(hopper)
    scale = fl.interocular(face.landmarks)
    readings, widths = [], []
    for gap in (0.0, 0.15, 0.3):  # in inter-ocular distances, the measure's unit
        frame = _drop_jaw(hopper, face.landmarks, gap * scale)
        (seen,) = faces.select_faces(frame)
        readings.append(fl.mouth_opening(seen.landmarks))
        widths.append(fl.mouth_width(seen.landmarks))
    assert readings[0] < 0.05  # her mouth is closed
    assert readings[0] + 0.03 < readings[1] < readings[2] - 0.08
    assert readings[2] == pytest.approx(0.3, abs=0.1)
    assert 0.6 < widths[0] < 1.2 and max(widths) - min(widths) < 0.15


def test_mouth_measures_ignore_scale_and_tilt(astronaut: np.ndarray) -> None:
    (face,) = faces.detect(astronaut)
    base = fl.mouth_opening(face.landmarks), fl.mouth_width(face.landmarks)
    assert base[0] > 0.08  # her smile shows her teeth
    for image in (cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA), _warp(astronaut, 15.0)):
        (seen,) = faces.detect(image)
        assert fl.mouth_opening(seen.landmarks) == pytest.approx(base[0], abs=0.03)
        assert fl.mouth_width(seen.landmarks) == pytest.approx(base[1], rel=0.06)


def test_mouth_opening_follows_the_renderer(hopper: np.ndarray) -> None:
    from services.engine.render.animator import FaceAnimator
    from services.engine.render.mouth_warp import MouthShapeFrame

    (face,) = faces.select_faces(hopper)
    animator = FaceAnimator(hopper, face.landmarks)
    readings = []
    for open_ in (0.0, 0.5, 1.0):
        frame = hopper.copy()
        animator.render(hopper, frame, MouthShapeFrame(open_, 0.2, 0.0))
        (seen,) = faces.select_faces(frame)
        readings.append(fl.mouth_opening(seen.landmarks))
    assert readings[0] < 0.05 < readings[1] < readings[2]
