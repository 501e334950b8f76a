"""Faces for the renderer: find them (left to right), pick the ones to animate, track them.

Detection (`face_detector`) finds boxes; the face mesh (`face_mesh`) gives 468 landmarks from a
crop. In a video the crop comes from the previous frame's landmarks, so detection only runs
again when the face is lost, and landmarks are smoothed over time with a One Euro filter:
steady when the face is still, responsive when it moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.engine import face_detector, face_mesh
from services.engine.errors import FaceTooSmall, NoFaceError

MIN_FACE_PX = 48
MIN_PRESENCE = 0.5


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    landmarks: np.ndarray  # [468, 3] float32: x, y in pixels, z relative
    score: float

    @property
    def size(self) -> float:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def _face_from_landmarks(landmarks: np.ndarray, score: float) -> Face:
    lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    return Face((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), landmarks, score)


def detect(image: np.ndarray, min_face: int = MIN_FACE_PX) -> list[Face]:
    """Every face with landmarks, ordered left to right."""
    faces = []
    for detection in face_detector.detect_faces(image, min_face=min_face):
        landmarks, presence = face_mesh.run_mesh(image, face_mesh.roi_from_detection(detection))
        if presence >= MIN_PRESENCE:
            faces.append(_face_from_landmarks(landmarks, float(detection.score)))
    return sorted(faces, key=lambda f: f.center[0])


def select_faces(image: np.ndarray, count: int = 1, mask: np.ndarray | None = None,
                 min_size: int = MIN_FACE_PX) -> list[Face]:
    """The `count` faces to animate, left to right; the mask (white = allowed) picks among them.

    With more faces than needed, the largest are taken. Raises NoFaceError or FaceTooSmall with
    a message for the person who sent the picture.
    """
    faces = detect(image, min_face=min(min_size, 32))
    if mask is not None:
        h, w = mask.shape[:2]
        faces = [f for f in faces
                 if mask[int(np.clip(f.center[1], 0, h - 1)), int(np.clip(f.center[0], 0, w - 1))]
                 > 0.5]
    if not faces:
        where = " inside the mask" if mask is not None else ""
        raise NoFaceError(f"No face found in the image{where}")
    if len(faces) < count:
        raise NoFaceError(f"Found {len(faces)} face; this needs {_words(count)} people side by side")
    chosen = sorted(sorted(faces, key=lambda f: -f.size)[:count], key=lambda f: f.center[0])
    small = [f for f in chosen if f.size < min_size]
    if small:
        raise FaceTooSmall(f"The face is too small to animate ({small[0].size:.0f} px; "
                           f"at least {min_size} px needed)")
    return chosen


def _words(count: int) -> str:
    return {1: "one", 2: "two"}.get(count, str(count))


class _OneEuro:
    """One Euro filter over an array of coordinates (Casiez et al., 2012): the cut-off frequency
    rises with speed, so slow jitter is removed without lagging fast motion."""

    def __init__(self, rate: float, min_cutoff: float = 1.0, beta: float = 0.05,
                 d_cutoff: float = 1.0) -> None:
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: np.ndarray, scale: float) -> np.ndarray:
        if self._x is None or self._dx is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x
        # Speeds are measured in face sizes per second, so the filter behaves the same at any size.
        dx = (x - self._x) * self.rate / scale
        a_d = self._alpha(self.d_cutoff)
        self._dx = self._dx + a_d * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx) * 100
        a = self._alpha(cutoff)
        self._x = self._x + a * (x - self._x)
        return self._x


class FaceTracker:
    """Follows one face through the frames of a video."""

    def __init__(self, first: Face, fps: float = 25.0) -> None:
        self._face: Face | None = first
        self._filter = _OneEuro(fps)

    def track(self, frame: np.ndarray) -> Face | None:
        """This frame's face (smoothed), or None when it cannot be found."""
        landmarks = None
        if self._face is not None:
            roi = face_mesh.roi_from_landmarks(self._face.landmarks)
            found, presence = face_mesh.run_mesh(frame, roi)
            if presence >= MIN_PRESENCE:
                landmarks = found
        if landmarks is None:
            landmarks = self._redetect(frame)
            if landmarks is None:
                self._face = None
                return None
        raw = _face_from_landmarks(landmarks, 1.0)
        smooth = self._filter(landmarks.astype(np.float64), max(raw.size, 1.0))
        # The next crop follows the smoothed landmarks: a crop that moves with the raw ones feeds
        # their noise back into the next frame and the points shimmer on a still face. The crop
        # is 1.5x the face, so the filter's small lag in fast motion costs nothing.
        self._face = _face_from_landmarks(smooth.astype(np.float32), 1.0)
        return self._face

    def _redetect(self, frame: np.ndarray) -> np.ndarray | None:
        faces = detect(frame)
        if not faces:
            return None
        if self._face is None:
            return faces[0].landmarks
        cx, cy = self._face.center if self._face else (0.0, 0.0)
        nearest = min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)
        return nearest.landmarks
