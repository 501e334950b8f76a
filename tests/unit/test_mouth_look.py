"""What a viewer sees of the mouth: teeth brighter than the skin, no black hole, no jaw seam,
nothing outside the face and neck moved, the teeth fixed to the skull and jaw, no shimmer.

Measures come from the face mesh run afresh on the rendered pixels (services/engine/look_measures).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.devtools import samples
from services.engine.faces import face_boxes as faces
from services.engine.measures.look_measures import FrameLook, measure_frame, summarize
from services.engine.render.animator import FaceAnimator
from services.engine.render.mouth_bank import FADE_IN, MouthBank
from services.engine.render.mouth_warp import MAX_GAP, MouthFrame, MouthShapeFrame, MouthWarper, shaded_lip

SHUT = MouthShapeFrame(0.0, 0.2, 0.0)
OPEN = (MouthShapeFrame(0.7, 0.45, 0.0), MouthShapeFrame(0.9, 0.45, 0.0), MouthShapeFrame(1.0, 0.5, 0.0))


def _face(name: str) -> tuple[np.ndarray, np.ndarray]:
    image = samples.astronaut() if name == "astronaut" else samples.grace_hopper()
    # At 720p, as a person would look at it closely.
    scale = 720 / image.shape[0]
    image = cv2.resize(image, (round(image.shape[1] * scale), 720), interpolation=cv2.INTER_CUBIC)
    (face,) = faces.select_faces(image)
    return image, face.landmarks


@pytest.fixture(scope="module", params=["astronaut", "grace"])
def face(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    return _face(request.param)


def _look(image: np.ndarray, landmarks: np.ndarray, shape: MouthShapeFrame) -> FrameLook:
    out = image.copy()
    FaceAnimator(image, landmarks).render(image, out, shape)
    (seen,) = faces.select_faces(out)
    return measure_frame(0, out, seen.landmarks)


def test_teeth_are_brighter_than_the_cheeks_and_the_mouth_is_no_black_hole(
        face: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = face
    looks = [_look(image, landmarks, shape) for shape in OPEN]
    assert all(look.gap > 0.1 for look in looks)  # the mesh sees an open mouth
    assert min(look.bright for look in looks) >= 15.0
    assert max(look.black for look in looks) <= 0.10


def test_the_jawline_draws_no_edge_when_the_mouth_opens() -> None:
    image, landmarks = _face("grace")
    shut = _look(image, landmarks, SHUT)
    opened = [_look(image, landmarks, shape) for shape in OPEN]
    assert all(look.gap > 0.1 for look in opened) and shut.gap < 0.05
    assert np.mean([look.jaw for look in opened]) <= 1.10 * shut.jaw


def test_nothing_outside_the_face_and_neck_moves(face: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = face
    out = image.copy()
    FaceAnimator(image, landmarks).render(image, out, MouthShapeFrame(1.0, 0.9, 0.0))
    frame = MouthFrame.from_landmarks(landmarks)
    allowed = np.zeros(image.shape[:2], np.uint8)
    for poly in frame.region_polygons():
        cv2.fillPoly(allowed, [np.round(poly).astype(np.int32)], (1,))
    reach = 2 * round(0.3 * frame.half_width) + 1
    allowed = cv2.dilate(allowed, np.ones((reach, reach), np.uint8)).astype(bool)
    changed = np.abs(out.astype(int) - image.astype(int)).max(axis=2) > 0
    assert changed.sum() > 1000  # the mouth did move
    assert not (changed & ~allowed).any()


def test_upper_teeth_stay_with_the_skull_lower_teeth_ride_the_jaw() -> None:
    _, landmarks = _face("grace")
    frame = MouthFrame.from_landmarks(landmarks)
    s = np.linspace(-0.6, 0.6, 13, dtype=np.float32)
    xs, ys = frame.to_image(s, np.zeros_like(s))
    warper = MouthWarper(frame, xs, ys)
    half, wide = warper.warp(MouthShapeFrame(0.5, 0.45, 0.0)), warper.warp(MouthShapeFrame(1.0, 0.45, 0.0))
    # The skull's anchor for the upper teeth does not move with speech...
    assert np.allclose(half.closed_upper, wide.closed_upper, atol=1e-5)
    # ...while the jaw, carrying the lower teeth, drops with the opening, less than the lip does.
    assert 0 < half.jaw_drop < wide.jaw_drop < MAX_GAP


def test_a_small_change_of_shape_changes_the_mouth_a_little(face: tuple[np.ndarray, np.ndarray]) -> None:
    """No shimmer: neighbouring shapes give neighbouring pictures (nothing flips or sparkles)."""
    image, landmarks = face
    animator = FaceAnimator(image, landmarks)
    a, b = image.copy(), image.copy()
    animator.render(image, a, MouthShapeFrame(0.60, 0.45, 0.0))
    animator.render(image, b, MouthShapeFrame(0.62, 0.45, 0.0))
    x0, y0, x1, y1 = animator.lips_box
    diff = np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int))
    assert diff.mean() < 2.0
    assert (diff.max(axis=2) > 60).mean() < 0.02


def test_summary_stands_in_for_missing_open_or_closed_frames() -> None:
    # A smiling face whose shut lips never read under the closed gap, and a render the mesh
    # reads as only a little open: the extremes of the clip stand in.
    looks = [FrameLook(i, 0.06 + 0.001 * i, 20.0, 0.0, 50.0 + i) for i in range(50)]
    summary = summarize(looks)
    assert summary.closed_frames == summary.open_frames == 10
    assert summary.jaw_ratio == pytest.approx((50 + 44.5) / (50 + 4.5))
    opened = [FrameLook(i, 0.2, 20.0, 0.05, 60.0) for i in range(10)]
    shut = [FrameLook(i, 0.01, float("nan"), float("nan"), 50.0) for i in range(10)]
    summary = summarize(opened + shut)
    assert (summary.open_frames, summary.closed_frames) == (10, 10)
    assert summary.bright == 20.0 and summary.black == 0.05 and summary.jaw_ratio == pytest.approx(1.2)


def test_dubbing_shows_the_speakers_own_teeth() -> None:
    """Video Rewrite's idea: an open mouth seen in the source lends its interior to new frames."""
    image, landmarks = _face("astronaut")  # her real teeth show in the photo
    frame = MouthFrame.from_landmarks(landmarks, image)  # as the renderer reads it
    bank = MouthBank()
    bank.observe(image, frame)
    assert bank.patches  # the photo's mouth is open enough to keep
    bank.uses = FADE_IN  # past the fade-in
    shape = MouthShapeFrame(0.6, 0.45, 0.0)
    reused, painted = image.copy(), image.copy()
    FaceAnimator(image, landmarks, video=True, bank=bank).render(image, reused, shape)
    FaceAnimator(image, landmarks, video=True).render(image, painted, shape)
    # A little under the new upper lip, at the middle: the source's own teeth, not the painted ones.
    warp = MouthWarper(frame, *frame.to_image(np.zeros(1, np.float32), np.zeros(1, np.float32)),
                       neutralise_jaw=True).warp(shape)
    below = np.float32(0.08)  # past the lip's feathered edge (2-3 px here)
    x_new, y_new = frame.to_image(np.zeros(1, np.float32), warp.new_upper + below)
    # The patch starts under the lip's edge (`mouth_bank.red_rows`): the teeth as deep under it.
    trim = frame.source_gap() - bank.patches[0].gap
    source_upper = np.full(1, np.interp(0.0, frame.upper_s, frame.upper_t) + trim, np.float32)
    x_src, y_src = frame.to_image(np.zeros(1, np.float32), source_upper + below)

    def lab(picture: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        patch = picture[int(y[0]) - 1:int(y[0]) + 2, int(x[0]) - 1:int(x[0]) + 2].reshape(-1, 3)
        return cv2.cvtColor(patch[None].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[0].mean(axis=0)

    own = lab(image, x_src, y_src)
    assert np.linalg.norm(lab(reused, x_new, y_new) - own) < 8
    assert np.linalg.norm(lab(reused, x_new, y_new) - own) < np.linalg.norm(lab(painted, x_new, y_new) - own)


def _shut_lips(video: bool) -> tuple[float, float, float]:
    """The astronaut (a smile with her teeth showing) rendered shut: the lip gap the face mesh
    reads afresh on the output (mouth widths), the darkest L* near the mouth corners between
    the lips, and the median L* between the lips in the middle."""
    image, landmarks = _face("astronaut")
    out = image.copy()
    FaceAnimator(image, landmarks, video=video).render(image, out, SHUT)
    (seen,) = faces.select_faces(out)
    frame = MouthFrame.from_landmarks(landmarks)
    s, t = np.meshgrid(np.linspace(-1.05, 1.05, 85, dtype=np.float32),
                       np.linspace(-0.15, 0.55, 57, dtype=np.float32))
    xs, ys = frame.to_image(s, t)
    lightness = cv2.cvtColor(cv2.remap(out, xs, ys, cv2.INTER_LINEAR).astype(np.float32) / 255,
                             cv2.COLOR_RGB2Lab)[..., 0]
    return (measure_frame(0, out, seen.landmarks).gap, float(lightness[np.abs(s) > 0.6].min()),
            float(np.median(lightness[np.abs(s) < 0.4])))


@pytest.mark.parametrize("video", [False, True], ids=["image", "dubbing"])
def test_shut_lips_over_a_toothy_smile_read_shut_and_leave_no_dark_corners(video: bool) -> None:
    """Closing a smile that shows teeth: the lips meet where the picture shows their edges (the
    mesh's upper inner lip lies inside her upper lip), so the face mesh reads the render as
    shut, and the dark between her lips at the corners closes with them."""
    gap, corner, middle = _shut_lips(video)
    assert gap < 0.05  # the mesh read 0.07 when the lips met on its own lines
    assert corner > middle - 30  # dark corner marks read 22 L* against a middle of 76


def test_lip_edges_leave_touching_lips_and_move_onto_the_teeth() -> None:
    for name in ("grace", "astronaut"):
        image, landmarks = _face(name)
        mesh, read = MouthFrame.from_landmarks(landmarks), MouthFrame.from_landmarks(landmarks, image)
        if name == "grace":  # lips that touch: nothing to read
            assert np.array_equal(read.upper_t, mesh.upper_t) and np.array_equal(read.lower_t, mesh.lower_t)
        else:  # the upper inner lip moves down onto her teeth, by a few pixels, not a lip
            moved = np.interp(0.0, read.upper_s, read.upper_t) - np.interp(0.0, mesh.upper_s, mesh.upper_t)
            assert 0.03 < moved < 0.12
            assert 0.15 < read.source_gap() < mesh.source_gap()


def test_opening_lips_that_touch_leaves_the_line_between_them_off_the_lower_lip() -> None:
    """Grace Hopper's lips touch, with a dark line between them a few pixels wide, lying mostly
    under the mesh's line: opened, her lower lip starts under that line, not with it."""
    image, landmarks = _face("grace")
    frame = MouthFrame.from_landmarks(landmarks, image)
    assert not frame.edges_read and 0.02 < frame.crease <= 0.1  # 3.4 pixels at 720p
    assert MouthFrame.from_landmarks(landmarks).crease == 0.0  # without the picture, not read
    out = image.copy()
    shape = MouthShapeFrame(0.8, 0.45, 0.0)
    FaceAnimator(image, landmarks).render(image, out, shape)
    # Down the middle third of the mouth, from the opening's lower edge through the lower lip.
    s = np.linspace(-0.3, 0.3, 7, dtype=np.float32)
    t = np.linspace(0.0, 0.25, 26, dtype=np.float32)
    ss, tt = np.meshgrid(s, t)
    edge = MouthWarper(frame, *frame.to_image(ss, tt)).warp(shape).new_lower
    xs, ys = frame.to_image(ss, edge + tt)
    seen = cv2.remap(out, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR)
    light = cv2.cvtColor(seen.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]
    lip = np.median(light[len(t) // 2:], axis=0)  # the lower lip's body
    # Along the lip's top no dark line (it dipped 30-40 L* under the lip when the lower lip took
    # the line with it).
    assert (light[:len(t) // 2].min(axis=0) > lip - 20).all()


def _speaking_smile(open_: float) -> tuple[np.ndarray, np.ndarray, MouthFrame]:
    """Grace Hopper speaking with her teeth showing (her portrait opened `open_`, as a video to
    dub has it), its landmarks found afresh and its mouth with the lips read on it."""
    image, landmarks = _face("grace")
    source = image.copy()
    FaceAnimator(image, landmarks).render(image, source, MouthShapeFrame(open_, 0.45, 0.0))
    (seen,) = faces.select_faces(source)
    return source, seen.landmarks, MouthFrame.from_landmarks(seen.landmarks, source)


def _closed_line(frame: MouthFrame, s: np.ndarray, t: np.ndarray) -> tuple[MouthWarper, np.ndarray]:
    """The dub's warper over the points (s, t) and where its lips meet, shut (t per column)."""
    warper = MouthWarper(frame, *frame.to_image(s, t), neutralise_jaw=True)
    return warper, warper.warp(SHUT, interior=False).new_upper


def _lab_at(picture: np.ndarray, frame: MouthFrame, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    xs, ys = frame.to_image(s.astype(np.float32), t.astype(np.float32))
    seen = cv2.remap(picture, xs.reshape(1, -1), ys.reshape(1, -1), cv2.INTER_LINEAR)
    return cv2.cvtColor(seen.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(*s.shape, 3)


def test_closing_a_speaking_smile_keeps_the_upper_lip() -> None:
    """Dubbing a closed mouth over a frame that shows teeth: the upper lip comes down whole onto
    the lower one. The dark red edge of her lip over the teeth was read as the mouth's inside,
    and a rim skipped besides: the lips met 7 pixels up in her upper lip, most of it gone."""
    source, _, frame = _speaking_smile(0.7)
    # Where her teeth begin at the middle: down from the reddest of her upper lip, the first
    # point past half way from its redness to the teeth's.
    t = np.linspace(-0.15, 0.2, 71, dtype=np.float32)
    red = _lab_at(source, frame, np.zeros_like(t), t)[:, 1]
    lip = int(np.argmax(red))
    teeth_top = t[lip + int(np.argmax(red[lip:] < 0.5 * (red[lip] + red[lip:].min())))]
    # Just above where the shut lips meet, the picture comes from there, not from the lip above.
    s = np.zeros(1, np.float32)
    _, line = _closed_line(frame, s, s)
    above = MouthWarper(frame, *frame.to_image(s, line - np.float32(0.5 / frame.half_width)),
                        neutralise_jaw=True).warp(SHUT, interior=False)
    taken_from = frame.to_local(above.src_x.astype(np.float64), above.src_y.astype(np.float64))[1]
    assert abs(float(taken_from[0]) - teeth_top) * frame.half_width < 2.5  # pixels: 1.5 (6.6 before)


def test_closing_a_speaking_smile_draws_no_seam_at_the_corners() -> None:
    """Shut over a smile, the closing fades out towards the corners over a few pixels: the lip
    line's ends were cut by straight vertical edges where it stopped within a pixel or two."""
    _, _, frame = _speaking_smile(0.7)
    s, t = np.meshgrid(np.linspace(-1.2, 1.2, 49, dtype=np.float32),
                       np.linspace(-0.3, 0.0, 13, dtype=np.float32))
    warper, _ = _closed_line(frame, s, t)
    shut = warper.warp(SHUT, interior=False)
    moved = frame.to_local(shut.src_x.astype(np.float64), shut.src_y.astype(np.float64))[1] - t
    # The skin and lip above the lips: how much the closing changes from column to column.
    shear = np.abs(np.diff(moved, axis=1)) / float(s[0, 1] - s[0, 0])
    assert shear.max() < 1.2  # 0.9; 1.8 when a corner's thin upper lip was read as its inside


def test_closing_a_nearly_shut_smile_leaves_no_teeth_between_the_lips() -> None:
    """A frame whose teeth show down to the lower lip (the mesh reads a slit): closed, the teeth
    go, and the line where the lips meet is no lighter than the lips."""
    source, landmarks, frame = _speaking_smile(0.3)
    assert frame.edges_read  # read although the mesh's lines nearly touch
    out = source.copy()
    FaceAnimator(source, landmarks, video=True).render(source, out, SHUT)
    s = np.linspace(-0.7, 0.7, 29, dtype=np.float32)
    _, line = _closed_line(frame, s, np.zeros_like(s))
    step = np.float32(1 / frame.half_width)
    along = np.stack([_lab_at(out, frame, s, line + k * step)[:, 0] for k in np.arange(-1.5, 1.6, 0.5)])
    lips = np.stack([_lab_at(out, frame, s, line + k)[:, 0] for k in (-0.08, 0.1)])
    assert along.max() - np.median(lips) < 12  # 16 L* with her teeth riding on the lower lip


def test_a_lips_shaded_edge_is_lip_and_a_smiles_dark_corner_is_not() -> None:
    """Above the teeth, Grace's upper lip in shade (L* 42-44, a* 36-44 against her lips' 65, 33) is
    lip; the astronaut's near-black between lip and teeth at a smile's corner (L* 11-25, a* 15
    against 70, 15) is the mouth's inside, to close with it."""
    grace, astronaut = np.array([65.0, 33.0, 28.0]), np.array([70.0, 15.3, 15.0])
    assert shaded_lip(np.array([42.0, 44.0]), np.array([44.0, 36.0]), grace).all()
    assert not shaded_lip(np.array([11.6, 18.2, 25.6]), np.array([16.7, 15.1, 15.5]), astronaut).any()
    assert not shaded_lip(np.array([60.0]), np.array([40.0]), grace).any()  # not dark: the lip's body
