"""Faces with landmarks in one image: detection, then the face mesh on each detection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.engine.faces.face_detector import box_iou, detect_faces
from services.engine.faces.face_mesh import Roi, roi_from_detection, roi_from_landmarks, run_mesh


@dataclass
class Face:
    """A face in image pixels (pixel centres at integers)."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 around the landmarks
    landmarks: np.ndarray  # [468, 3] float32: x, y in pixels, z relative (same scale, nearer < 0)
    score: float  # face-presence probability from the mesh

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def size(self) -> float:
        """The longer side of the box, in pixels."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 C-contiguous: grey is repeated, an alpha channel dropped."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


class FaceAnalyzer:
    """Finds faces and their 468 landmarks. Safe to share between threads (the models keep one
    interpreter per thread)."""

    def __init__(self, min_presence: float = 0.5, min_face: int = 48, tiles: bool = True) -> None:
        self.min_presence = min_presence
        self.min_face = min_face  # the tile pyramid goes fine enough to find faces this small
        self.tiles = tiles

    def landmarks(self, image_rgb: np.ndarray, roi: Roi | np.ndarray) -> Face | None:
        """The face in `roi` (a crop, or the previous frame's [468, 3] landmarks), or None when
        the mesh says no face is there."""
        image = as_rgb(image_rgb)
        if isinstance(roi, np.ndarray):
            roi = roi_from_landmarks(roi)
        points, presence = run_mesh(image, roi)
        if presence < self.min_presence:
            return None
        return Face(landmark_box(points), points, presence)

    def detect(self, image_rgb: np.ndarray, min_face: int | None = None) -> list[Face]:
        """All faces, left to right by box centre; `min_face` overrides the analyzer's."""
        image = as_rgb(image_rgb)
        faces: list[Face] = []
        smallest = self.min_face if min_face is None else min_face
        for detection in detect_faces(image, min_face=smallest, tiles=self.tiles):
            first = self.landmarks(image, roi_from_detection(detection))
            if first is None:  # the mesh overrules a false detection
                continue
            # A second pass from the landmarks' own crop: as the tracker will see the face.
            faces.append(self.landmarks(image, first.landmarks) or first)
        return sorted(_dedupe(faces), key=lambda f: f.center[0])


def _dedupe(faces: list[Face]) -> list[Face]:
    """Two detections (e.g. from different tiles) can settle on the same face: keep the surer."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        box = np.array(face.box)
        if not kept or box_iou(box, np.array([k.box for k in kept])).max() < 0.5:
            kept.append(face)
    return kept
