"""What a viewer sees in a render's mouth, as numbers: used by `bench/look.py` and the tests.

The face mesh runs afresh on every decoded frame (crop from the previous frame's raw landmarks,
as `sync_measure` does), so the figures come from the pixels, not from the renderer's state.

Per frame:
- `gap`: the inner-lip gap over the mouth width (open frames: >= OPEN_GAP, closed: <= CLOSED_GAP);
- `bright`: mean L* of the brightest 15% of the inner mouth (inside the inner-lip contour) minus
  the cheeks' median L*: teeth that read as teeth sit well above the skin (a photo of the
  astronaut sample with real teeth showing: about +22);
- `black`: share of the inner mouth with L* < 12 (a cartoon hole is mostly black);
- `jaw`: mean gradient magnitude of L* along the lower jawline (face-oval landmarks from jaw
  angle to jaw angle; each sample the strongest within 4% of a mouth width, as landmarks wander);
  its ratio between open and closed frames shows seams and rigid jaws. Faces whose closed lips
  never read under CLOSED_GAP use their fifth least open frames as the closed ones; renders with
  few frames over OPEN_GAP (under a tenth) use their fifth most open frames as the open ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from services.engine.engine_errors import InputError
from services.engine.faces import face_boxes as faces
from services.engine.faces import face_landmarks as fl
from services.engine.faces import face_mesh
from services.engine.media import av_io as media

OPEN_GAP = 0.15
CLOSED_GAP = 0.05
NEAR_BLACK_L = 12.0
CHEEKS = (50, 280, 205, 425)
# The face oval from one jaw angle round the chin to the other.
LOWER_JAW = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)


@dataclass(frozen=True)
class FrameLook:
    index: int
    gap: float  # inner-lip gap / mouth width
    bright: float  # brightest 15% of the inner mouth minus cheek L*
    black: float  # near-black share of the inner mouth
    jaw: float  # edge strength along the lower jawline


@dataclass(frozen=True)
class LookSummary:
    frames: int
    open_frames: int
    closed_frames: int
    bright: float  # mean over open frames
    black: float  # mean over open frames
    jaw_ratio: float  # open / closed

    def lines(self) -> list[str]:
        return [
            f"frames {self.frames} (open {self.open_frames}, closed {self.closed_frames})",
            f"inner mouth brightest 15% minus cheek L*: {self.bright:+.1f}  (target >= +15)",
            f"near-black (L* < 12) share of the inner mouth: {self.black:.3f}  (target <= 0.10)",
            f"jawline edge strength open / closed: {self.jaw_ratio:.2f}  (target <= 1.10)",
        ]


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* (0..100) of an RGB uint8 picture."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]


def tracked_frames(video: str | Path) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """(index, RGB frame, landmarks or None) for every frame of `video`."""
    info = media.probe_video(video)
    tracked: np.ndarray | None = None
    for index, frame in enumerate(media.iter_video_frames(video, (info.width, info.height), 1_000_000)):
        if tracked is None:
            try:
                (face,) = faces.select_faces(frame, count=1, min_size=16)
            except InputError:
                yield index, frame, None
                continue
            roi = face_mesh.roi_from_landmarks(face.landmarks)
        else:
            roi = face_mesh.roi_from_landmarks(tracked)
        landmarks, presence = face_mesh.run_mesh(frame, roi)
        tracked = landmarks if presence >= 0.5 else None
        yield index, frame, tracked


def _disc_mask(shape: tuple[int, int], points: np.ndarray, radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for x, y in np.round(points).astype(int):
        cv2.circle(mask, (int(x), int(y)), max(radius, 1), (1,), -1)
    return mask.astype(bool)


def measure_frame(index: int, frame: np.ndarray, landmarks: np.ndarray) -> FrameLook:
    xy = landmarks[:, :2].astype(np.float64)
    width = fl.mouth_width(landmarks)
    gap = fl.mouth_opening(landmarks) / width if width > 0 else 0.0
    light = lightness(frame)
    mouth_px = float(np.linalg.norm(xy[fl.MOUTH_LEFT] - xy[fl.MOUTH_RIGHT]))

    inner = np.zeros(light.shape, np.uint8)
    cv2.fillPoly(inner, [np.round(xy[list(fl.INNER_LIPS)]).astype(np.int32)], (1,))
    inside = light[inner.astype(bool)]
    cheeks = light[_disc_mask((light.shape[0], light.shape[1]), xy[list(CHEEKS)], round(0.08 * mouth_px))]
    cheek = float(np.median(cheeks)) if cheeks.size else float("nan")
    if inside.size >= 8:
        top = np.sort(inside)[-max(1, round(0.15 * inside.size)):]
        bright = float(top.mean()) - cheek
        black = float((inside < NEAR_BLACK_L).mean())
    else:
        bright, black = float("nan"), float("nan")

    # Gradient of a lightly smoothed L*, its local maximum (landmarks wander a few pixels), sampled
    # densely along the jawline.
    smooth = cv2.GaussianBlur(light, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    reach = max(1, round(0.04 * mouth_px))
    strength = cv2.dilate(np.hypot(gx, gy), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    line = xy[list(LOWER_JAW)]
    samples = [a + (b - a) * f for a, b in itertools.pairwise(line)
               for f in np.linspace(0, 1, max(2, int(np.linalg.norm(b - a))), endpoint=False)]
    pts = np.round(np.array(samples)).astype(int)
    h, w = light.shape
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    jaw = float(strength[pts[ok, 1], pts[ok, 0]].mean()) if ok.any() else float("nan")
    return FrameLook(index, float(gap), bright, black, jaw)


def measure_video(video: str | Path) -> list[FrameLook]:
    return [measure_frame(i, frame, lm) for i, frame, lm in tracked_frames(video) if lm is not None]


def summarize(looks: list[FrameLook]) -> LookSummary:
    opened = [x for x in looks if x.gap >= OPEN_GAP]
    closed = [x for x in looks if x.gap <= CLOSED_GAP]
    fifth = max(1, len(looks) // 5)
    if not closed and looks:
        # Some faces read a little open even with the lips together (a smile): the fifth of
        # the frames with the smallest gap stand for closed.
        closed = sorted(looks, key=lambda x: x.gap)[:fifth]
    if len(opened) < max(3, len(looks) // 10):
        # The mesh reads some open mouths small (it takes teeth for lip): then the fifth of the
        # frames with the largest gap stand for open.
        opened = sorted(looks, key=lambda x: -x.gap)[:fifth]

    def mean(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    jaw_open, jaw_closed = mean([x.jaw for x in opened]), mean([x.jaw for x in closed])
    return LookSummary(len(looks), len(opened), len(closed), mean([x.bright for x in opened]),
                       mean([x.black for x in opened]),
                       jaw_open / jaw_closed if jaw_closed > 0 else float("nan"))
