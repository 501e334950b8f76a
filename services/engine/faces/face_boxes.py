"""Face analysis for the renderer: find the face(s) to animate, follow them, measure the mouth.

    faces = select_faces(image, count=1)            # raises NoFaceError / FaceTooSmall
    tracker = FaceTracker(faces[0])                  # or MultiFaceTracker(faces)
    for frame in frames: face = tracker.track(frame) # Face | None
    mouth_opening(face.landmarks)

Detection: BlazeFace short-range on the image and a tile pyramid (face_detector); landmarks: the
468-point MediaPipe face mesh (face_mesh); tracking and smoothing (face_tracking).
"""

from __future__ import annotations

import cv2
import numpy as np

from services.engine.engine_errors import FaceTooSmall, NoFaceError
from services.engine.faces.face_analyzer import Face, FaceAnalyzer, as_rgb
from services.engine.faces.face_landmarks import interocular, mouth_opening, mouth_width
from services.engine.faces.face_mesh import Roi
from services.engine.faces.face_tracking import FaceTracker, MultiFaceTracker

__all__ = [
    "MIN_FACE_PX",
    "MIN_PRESENCE",
    "Face",
    "FaceAnalyzer",
    "FaceTracker",
    "MultiFaceTracker",
    "Roi",
    "default_analyzer",
    "detect",
    "interocular",
    "mouth_opening",
    "mouth_width",
    "select_faces",
]

MIN_FACE_PX = 48
MIN_PRESENCE = 0.5
# select_faces looks for faces down to this size, so a small face reads "too small", not "none".
_SEARCH_FACE_PX = 32

_DEFAULT: FaceAnalyzer | None = None


def default_analyzer() -> FaceAnalyzer:
    """A shared analyzer (it holds no per-image state; models are per thread)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FaceAnalyzer(min_presence=MIN_PRESENCE, min_face=MIN_FACE_PX)
    return _DEFAULT


def detect(image_rgb: np.ndarray, min_face: int = MIN_FACE_PX) -> list[Face]:
    """Every face with landmarks, left to right."""
    return default_analyzer().detect(image_rgb, min_face=min_face)


def _in_mask(faces: list[Face], mask: np.ndarray, height: int, width: int) -> list[Face]:
    """Faces whose box centre falls on a white pixel of the mask."""
    values: np.ndarray = np.asarray(mask)
    if values.ndim == 3:
        values = values.max(axis=2)
    # White is 255 in a uint8 mask, 1.0 in a float one, True in a bool one.
    half = 127 if values.dtype == np.uint8 else 0.5
    allowed: np.ndarray = (values > half).astype(np.uint8)
    if allowed.shape != (height, width):  # a mask drawn at another resolution
        allowed = np.asarray(
            cv2.resize(allowed, (width, height), interpolation=cv2.INTER_NEAREST)
        )
    kept = []
    for face in faces:
        x, y = (round(v) for v in face.center)
        if 0 <= x < width and 0 <= y < height and allowed[y, x]:
            kept.append(face)
    return kept


def _too_few(found: int, count: int) -> str:
    have = f"Found {found} face{'' if found == 1 else 's'}"
    need = "this needs two people side by side" if count == 2 else f"this needs {count} faces"
    return f"{have}; {need}"


def select_faces(
    image_rgb: np.ndarray,
    count: int = 1,
    mask: np.ndarray | None = None,
    min_size: int = MIN_FACE_PX,
    analyzer: FaceAnalyzer | None = None,
) -> list[Face]:
    """The `count` largest faces (inside `mask`'s white area if given), left to right.

    Raises NoFaceError when there are fewer than `count`, FaceTooSmall when a chosen face's box
    is under `min_size` pixels on its longer side. Messages are for the person who sent the image.
    """
    image = as_rgb(image_rgb)
    height, width = image.shape[:2]
    faces = (analyzer or default_analyzer()).detect(image, min_face=min(min_size, _SEARCH_FACE_PX))
    if mask is not None:
        faces = _in_mask(faces, mask, height, width)
    where = "" if mask is None else " inside the mask"
    if not faces:
        raise NoFaceError(f"No face found in the image{where}")
    if len(faces) < count:
        raise NoFaceError(_too_few(len(faces), count) + where)
    chosen = sorted(faces, key=lambda f: -f.size)[:count]
    for face in chosen:
        if face.size < min_size:
            raise FaceTooSmall(
                f"The face is too small: {face.size:.0f} px across, at least {min_size} px "
                "is needed (use a larger or closer-cropped picture)"
            )
    return sorted(chosen, key=lambda f: f.center[0])
