"""MediaPipe face mesh: 468 3-D landmarks from a square, eyes-level crop around the face.

Model facts (face_landmark.tflite): input 192x192 RGB scaled to [0, 1]; outputs 1404 numbers (468 x
x, y, z in input pixels; z has the same scale as x, smaller = nearer the camera) and one face-presence
logit. The crop (a rotated square, `Roi`) comes from a detection for the first frame and from the
previous frame's landmarks afterwards, both enlarged 1.5x as in MediaPipe's graphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.faces.face_detector import LEFT_EYE, RIGHT_EYE, Detection
from services.engine.faces.face_landmarks import LEFT_EYE_OUTER, RIGHT_EYE_OUTER
from services.engine.faces.tflite_model import TFLiteModel

INPUT_SIZE = 192
ROI_SCALE = 1.5

_MODEL = TFLiteModel("face_landmark.tflite")


@dataclass(frozen=True)
class Roi:
    """A square crop: centre and side in image pixels, `angle` the eye line's slope in radians
    (image axes, y down; positive when the subject's left eye, on the image's right, is lower)."""

    cx: float
    cy: float
    size: float
    angle: float

    def crop_to_image(self) -> np.ndarray:
        """[2, 3] affine map from continuous crop coordinates (0..INPUT_SIZE, pixel i spans [i, i+1])
        to image pixel coordinates (pixel centres at integers, as arrays and cv2 index them)."""
        k = self.size / INPUT_SIZE
        c, s = math.cos(self.angle) * k, math.sin(self.angle) * k
        half = INPUT_SIZE / 2
        return np.array(
            [[c, -s, self.cx - c * half + s * half], [s, c, self.cy - s * half - c * half]],
            np.float64,
        )


def _eye_angle(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    dx, dy = float(left_eye[0] - right_eye[0]), float(left_eye[1] - right_eye[1])
    return math.atan2(dy, dx)


def roi_from_detection(detection: Detection) -> Roi:
    x0, y0, x1, y1 = (float(v) for v in detection.box)
    angle = _eye_angle(detection.keypoints[RIGHT_EYE], detection.keypoints[LEFT_EYE])
    size = max(x1 - x0, y1 - y0) * ROI_SCALE
    return Roi((x0 + x1) / 2, (y0 + y1) / 2, size, angle)


def roi_from_landmarks(landmarks: np.ndarray) -> Roi:
    """The landmarks' bounding box in the face's own (eyes-level) frame, enlarged."""
    xy = landmarks[:, :2].astype(np.float64)
    angle = _eye_angle(xy[RIGHT_EYE_OUTER], xy[LEFT_EYE_OUTER])
    c, s = math.cos(angle), math.sin(angle)
    to_face = np.array([[c, s], [-s, c]])  # rotates by -angle
    local = xy @ to_face.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    center = ((lo + hi) / 2) @ to_face  # back to image axes
    size = float(max(hi - lo)) * ROI_SCALE
    return Roi(float(center[0]), float(center[1]), size, angle)


def crop(image_rgb: np.ndarray, roi: Roi) -> np.ndarray:
    """The ROI resampled to INPUT_SIZE x INPUT_SIZE (edge pixels repeated outside the image)."""
    m = roi.crop_to_image()
    # warpAffine maps output pixel indices: output pixel u's centre is at crop coordinate u + 0.5.
    m_idx = m.copy()
    m_idx[:, 2] += m[:, :2] @ np.array([0.5, 0.5])
    return cv2.warpAffine(
        image_rgb,
        m_idx,
        (INPUT_SIZE, INPUT_SIZE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def run_mesh(image_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
    """(landmarks [468, 3] float32 in image pixels, z in the same scale; presence 0..1)."""
    x = crop(image_rgb, roi).astype(np.float32)[None] * (1.0 / 255.0)
    raw, presence_logit = _MODEL.run(x)
    pts = raw.reshape(468, 3).astype(np.float64)
    m = roi.crop_to_image()
    out = np.empty((468, 3), np.float32)
    out[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = pts[:, 2] * (roi.size / INPUT_SIZE)
    presence = 1.0 / (1.0 + math.exp(-max(-80.0, min(80.0, float(presence_logit.reshape(-1)[0])))))
    return out, presence
