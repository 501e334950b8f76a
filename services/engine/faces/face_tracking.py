"""Following faces through a video: the face mesh on a crop placed from the previous frame.

Detection (~30 ms of CPU at 480p with tiles) runs only on the first frame and when a face is lost; each
other frame costs one mesh run (~1-2 ms). The crop is kept unchanged while the face stays within a
small tolerance of it, so a still face gives identical landmarks frame after frame, and landmarks
are smoothed with a One Euro filter (steady at rest, quick when the head or lips move).
"""

from __future__ import annotations

import math

import numpy as np

from services.engine.faces.face_analyzer import Face, FaceAnalyzer, as_rgb, landmark_box
from services.engine.faces.face_landmarks import interocular
from services.engine.faces.face_mesh import Roi, roi_from_landmarks
from services.engine.faces.one_euro import OneEuroFilter

# Keep the crop while the face moves less than this (fractions of the crop side, radians).
# Measured on still portraits: without it a still face shimmers by up to 6 px.
ROI_SHIFT_TOLERANCE = 0.03
ROI_SIZE_TOLERANCE = 0.03
ROI_ANGLE_TOLERANCE = math.radians(2.0)
# While a face stays lost, detect on the first frames, then on one frame in this many (a
# detection costs ~10-20 mesh runs).
RETRY_FRAMES = 3
RETRY_EVERY = 5


def _should_detect(misses: int) -> bool:
    return misses < RETRY_FRAMES or misses % RETRY_EVERY == 0


def _deadband(old: float, new: float, tolerance: float) -> float:
    """`new`, unless within `tolerance` of `old`; beyond that, trail it by exactly `tolerance`."""
    return old + max(0.0, abs(new - old) - tolerance) * math.copysign(1.0, new - old)


def follow_roi(old: Roi, new: Roi) -> Roi:
    """The crop for the next frame. A dead band keeps it fixed while the face jitters within a
    small tolerance (the mesh depends on the crop, so a still face then reads identically every
    frame), and lets it glide, not jump, when the face moves."""
    shift = math.hypot(new.cx - old.cx, new.cy - old.cy)
    band = ROI_SHIFT_TOLERANCE * old.size
    keep = min(1.0, band / shift) if shift > 0 else 1.0  # fraction of the shift left undone
    size = _deadband(old.size, new.size, ROI_SIZE_TOLERANCE * old.size)
    turn = math.remainder(new.angle - old.angle, 2 * math.pi)
    angle = old.angle + _deadband(0.0, turn, ROI_ANGLE_TOLERANCE)
    return Roi(
        new.cx + (old.cx - new.cx) * keep, new.cy + (old.cy - new.cy) * keep, size, angle
    )


def _inside(roi: Roi, width: int, height: int) -> bool:
    return 0 <= roi.cx < width and 0 <= roi.cy < height


def nearest(faces: list[Face], point: tuple[float, float] | None) -> Face | None:
    """The face whose centre is nearest `point`; with no point, the largest face."""
    if not faces:
        return None
    if point is None:
        return max(faces, key=lambda f: f.size)
    return min(faces, key=lambda f: math.hypot(f.center[0] - point[0], f.center[1] - point[1]))


class FaceTracker:
    """Follows one face through a video. `initial` picks the face (else the largest one found);
    after a loss the tracker re-detects and takes the face nearest where its face was last seen.
    `smooth=False` returns the mesh's raw landmarks (for measuring rather than rendering)."""

    def __init__(
        self,
        initial: Face | None = None,
        fps: float = 25.0,
        analyzer: FaceAnalyzer | None = None,
        smooth: bool = True,
        min_cutoff: float = 0.5,
        beta: float = 30.0,
        d_cutoff: float = 8.0,
    ) -> None:
        self.analyzer = analyzer or FaceAnalyzer()
        self.fps = fps
        self.smooth = smooth
        self._filter = OneEuroFilter(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self._frame = 0
        self._misses = 0  # consecutive frames without the face
        self._roi: Roi | None = None
        self._last_center: tuple[float, float] | None = None
        if initial is not None:
            self._roi = roi_from_landmarks(initial.landmarks)
            self._last_center = initial.center

    @property
    def active(self) -> bool:
        """Whether the next frame starts from a crop (rather than a detection)."""
        return self._roi is not None

    def follow(self, frame_rgb: np.ndarray) -> Face | None:
        """The mesh in the current crop, or None if there is no crop or no face in it."""
        if self._roi is None:
            return None
        return self.analyzer.landmarks(frame_rgb, self._roi)

    def pick(self, faces: list[Face]) -> Face | None:
        return nearest(faces, self._last_center)

    def accept(self, face: Face | None, frame_rgb: np.ndarray, timestamp: float | None = None) -> Face | None:
        """Record this frame's raw face (None when lost) and return what the caller should use."""
        t = self._frame / self.fps if timestamp is None else timestamp
        self._frame += 1
        if face is None:
            self._roi = None
            self._misses += 1
            self._filter.reset()  # do not blend across the gap
            return None
        self._misses = 0
        new_roi = roi_from_landmarks(face.landmarks)
        self._roi = new_roi if self._roi is None else follow_roi(self._roi, new_roi)
        height, width = frame_rgb.shape[:2]
        if not _inside(self._roi, width, height):
            self._roi = None  # leaving the frame: re-detect next time
        self._last_center = face.center
        if not self.smooth:
            return face
        points = self._filter(face.landmarks, t, scale=max(interocular(face.landmarks), 1.0))
        return Face(landmark_box(points), points, face.score)

    def track(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> Face | None:
        """The tracked face in this frame (None while no face is found). `timestamp` in seconds
        defaults to the frame count over `fps`."""
        frame = as_rgb(frame_rgb)
        face = self.follow(frame)
        if face is None and _should_detect(self._misses):
            face = self.pick(self.analyzer.detect(frame))
        return self.accept(face, frame, timestamp)

    @property
    def misses(self) -> int:
        """Consecutive frames in which the face was not found."""
        return self._misses


class MultiFaceTracker:
    """Follows several faces (e.g. those chosen in the first frame), one `FaceTracker` each.
    A lost face is re-detected among faces no other tracker holds, nearest where it was last."""

    def __init__(
        self,
        faces: list[Face],
        analyzer: FaceAnalyzer | None = None,
        fps: float = 25.0,
        smooth: bool = True,
    ) -> None:
        self.analyzer = analyzer or FaceAnalyzer()
        self.trackers = [
            FaceTracker(face, fps=fps, analyzer=self.analyzer, smooth=smooth) for face in faces
        ]

    def track(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[Face | None]:
        """One entry per face given at construction, in the same order."""
        frame = as_rgb(frame_rgb)
        found = [t.follow(frame) for t in self.trackers]
        lost = [t.misses for t, f in zip(self.trackers, found, strict=True) if f is None]
        if lost and _should_detect(min(lost)):
            held = [f for f in found if f is not None]
            free = [c for c in self.analyzer.detect(frame) if not _overlaps_any(c, held)]
            for i, tracker in enumerate(self.trackers):
                if found[i] is None and (choice := tracker.pick(free)) is not None:
                    found[i] = choice
                    free.remove(choice)
        return [t.accept(f, frame, timestamp) for t, f in zip(self.trackers, found, strict=True)]


def _overlaps_any(face: Face, others: list[Face]) -> bool:
    cx, cy = face.center
    return any(o.box[0] <= cx <= o.box[2] and o.box[1] <= cy <= o.box[3] for o in others)
