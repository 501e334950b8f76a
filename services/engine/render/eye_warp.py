"""Blinks as a backward warp: the upper lid's skin slides down over the eye."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.engine.faces import face_landmarks as fl
from services.engine.faces.local_axes import LocalAxes

LID_BAND = 0.22  # visible upper lid above the lashes, in half eye widths


@dataclass
class EyeFrame:
    """One eye in a local frame: `s` along the corners (-1..1), `t` downwards, in half widths."""

    center: np.ndarray
    axis_s: np.ndarray
    axis_t: np.ndarray
    half_width: float
    upper_s: np.ndarray
    upper_t: np.ndarray
    lower_s: np.ndarray
    lower_t: np.ndarray

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, upper: tuple[int, ...],
                       lower: tuple[int, ...]) -> EyeFrame:
        pts = landmarks[:, :2].astype(np.float64)
        a, b = pts[upper[0]], pts[upper[-1]]
        if a[0] > b[0]:
            a, b = b, a
        axes = LocalAxes.between(a, b)
        us, ut = axes.curve(pts, upper)
        ls, lt = axes.curve(pts, lower)
        return cls(axes.center, axes.axis_s, axes.axis_t, axes.half, us, ut, ls, lt)

    def roi(self, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        r = 1.6 * self.half_width
        x0 = int(max(0, self.center[0] - r))
        y0 = int(max(0, self.center[1] - r))
        x1 = int(min(image_size[0], self.center[0] + r))
        y1 = int(min(image_size[1], self.center[1] + r))
        return x0, y0, x1, y1


def eyes_of(landmarks: np.ndarray) -> list[EyeFrame]:
    return [
        EyeFrame.from_landmarks(landmarks, fl.RIGHT_EYE_UPPER, fl.RIGHT_EYE_LOWER),
        EyeFrame.from_landmarks(landmarks, fl.LEFT_EYE_UPPER, fl.LEFT_EYE_LOWER),
    ]


def warp_eye(eye: EyeFrame, xs: np.ndarray, ys: np.ndarray, closure: float) -> tuple[np.ndarray, np.ndarray]:
    """Backward map closing the eye by `closure` (0 open, 1 shut)."""
    dx, dy = xs - eye.center[0], ys - eye.center[1]
    s = (dx * eye.axis_s[0] + dy * eye.axis_s[1]) / eye.half_width
    t = (dx * eye.axis_t[0] + dy * eye.axis_t[1]) / eye.half_width
    upper = np.interp(s, eye.upper_s, eye.upper_t)
    lower = np.interp(s, eye.lower_s, eye.lower_t)
    opening = np.maximum(lower - upper, 0.0)
    new_lid = upper + closure * opening
    # The lid, a thin band of skin above the lashes, stretches down to the new lid edge; the skin
    # above it stays where it is, so the brow never moves.
    top = upper - LID_BAND
    inside = (t > top) & (t < new_lid) & (np.abs(s) < 1.15)
    t_src = np.where(inside, top + (t - top) * LID_BAND / (new_lid - top), t)
    h = eye.half_width
    src_x = eye.center[0] + h * (s * eye.axis_s[0] + t_src * eye.axis_t[0])
    src_y = eye.center[1] + h * (s * eye.axis_s[1] + t_src * eye.axis_t[1])
    return src_x.astype(np.float32), src_y.astype(np.float32)
