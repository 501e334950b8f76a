"""A style's effect on the pixels: a still portrait's resting expression, and mouth amplitude.

An emotion preset is one static warp of the portrait, made once before it is animated: mouth
corners, brows and eyelids move as smooth backward maps in each feature's own frame (the mouth
in half mouth widths, brows and eyes in half eye widths), each fading to nothing within about
one such unit, so nothing else in the picture moves. The landmarks are carried along by the
same warp, so the animation (mouth, blinks, head) then runs on the new face exactly as on a
photo that had that expression.

Sizes (at strength 1; `Style.emotion_strength` scales them):
- smiling: mouth corners 0.16 half mouth widths up and 0.08 out (about 4 and 2 mm on a 50 mm
  mouth, a social smile), lower lids raised by 15% of the eye's opening (the cheeks' squint);
- serious: corners 0.07 down, brows 0.14 half eye widths lower and 0.08 towards the nose,
  upper lids 6% lower;
- surprised: brows 0.35 half eye widths up (about 5 mm), upper lids raised by 25% of the
  opening, the mouth's speech openings 25% larger.

Expressiveness scales the mouth shapes' excursions (opening, spread and rounding) about rest;
closures stay closed and openings stay within the range `mouth_warp.MAX_GAP` states (a soft
ceiling). Head sway and nods are scaled in `idle_motion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.faces import face_landmarks as fl
from services.engine.faces.local_axes import LocalAxes
from services.engine.render.mouth_warp import WIDTH_REST
from services.engine.render.style import Style

Box = tuple[int, int, int, int]
Points = tuple[np.ndarray, np.ndarray]

# Brows, subject's right and left: the upper and lower rows of MediaPipe's face mesh.
RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
LEFT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
BROW_FOREHEAD = 1.2  # how far above the brow its motion fades out (half eye widths)
LID_BAND_ABOVE = 0.5  # skin above the upper lid / below the lower lid that takes the lids'
LID_BAND_BELOW = 0.5  # motion (half eye widths)
OPEN_CEILING = 0.85  # openings above this (of mouth_warp.MAX_GAP) are eased towards 1


@dataclass(frozen=True)
class Expression:
    corner_up: float = 0.0  # mouth corners up (half mouth widths; negative: down)
    corner_out: float = 0.0  # mouth corners outwards (half mouth widths)
    brow_up: float = 0.0  # brows up (half eye widths; negative: down)
    brow_in: float = 0.0  # brows towards the nose (half eye widths)
    upper_lid: float = 0.0  # upper lids raised by this share of the eye's opening (wider)
    lower_lid: float = 0.0  # lower lids raised by this share (narrower)
    open_gain: float = 0.0  # speech openings larger by this share

    def is_neutral(self) -> bool:
        return self == Expression()

    def scaled(self, k: float) -> Expression:
        return Expression(*(k * v for v in (self.corner_up, self.corner_out, self.brow_up,
                                             self.brow_in, self.upper_lid, self.lower_lid,
                                             self.open_gain)))


PRESETS = {
    "neutral": Expression(),
    "smiling": Expression(corner_up=0.16, corner_out=0.08, lower_lid=0.15),
    "serious": Expression(corner_up=-0.07, brow_up=-0.14, brow_in=0.08, upper_lid=-0.06),
    "surprised": Expression(brow_up=0.35, upper_lid=0.25, open_gain=0.25),
}


def expression_for(style: Style) -> Expression:
    return PRESETS[style.emotion].scaled(style.emotion_strength)


def styled_shapes(shapes: np.ndarray, expressiveness: float = 1.0, open_gain: float = 0.0) -> np.ndarray:
    """Mouth shapes (frames x [open, width, round]) with their excursions scaled; the same
    array when nothing changes."""
    if expressiveness == 1.0 and open_gain == 0.0:
        return shapes
    out = shapes.astype(np.float32, copy=True)
    opening = out[:, 0] * np.float32(expressiveness * (1.0 + open_gain))
    over = np.maximum(opening - OPEN_CEILING, 0.0)
    span = 1.0 - OPEN_CEILING
    out[:, 0] = np.minimum(opening, OPEN_CEILING) + span * np.tanh(over / span)
    out[:, 1] = np.clip(WIDTH_REST + (out[:, 1] - WIDTH_REST) * expressiveness, 0.0, 1.0)
    out[:, 2] = np.clip(out[:, 2] * expressiveness, 0.0, 1.0)
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class _Feature:
    """A feature's local frame: to and from pixels."""

    def __init__(self, axes: LocalAxes) -> None:
        self.axes = axes

    def local(self, x: np.ndarray, y: np.ndarray) -> Points:
        a = self.axes
        dx, dy = x - a.center[0], y - a.center[1]
        return ((dx * a.axis_s[0] + dy * a.axis_s[1]) / a.half,
                (dx * a.axis_t[0] + dy * a.axis_t[1]) / a.half)

    def image(self, s: np.ndarray, t: np.ndarray) -> Points:
        a = self.axes
        return (a.center[0] + a.half * (s * a.axis_s[0] + t * a.axis_t[0]),
                a.center[1] + a.half * (s * a.axis_s[1] + t * a.axis_t[1]))


class _Corners(_Feature):
    """Mouth corners up/down and out: a smooth bump around each corner, none at the middle."""

    def __init__(self, pts: np.ndarray, up: float, out: float) -> None:
        super().__init__(LocalAxes.between(pts[fl.MOUTH_RIGHT], pts[fl.MOUTH_LEFT]))
        self.up, self.out = up, out

    def __call__(self, x: np.ndarray, y: np.ndarray) -> Points:
        s, t = self.local(x, y)
        a = np.abs(s)
        w = (np.exp(-((a - 1.0) ** 2) / (2 * 0.4**2)) * np.exp(-(t**2) / (2 * 0.45**2))
             * _smoothstep(a / 0.6))
        return self.image(s - np.sign(s) * self.out * w, t + self.up * w)


class _Eye(_Feature):
    """One eye's lids and brow: the brow moves up/down and inwards, fading out up the forehead
    and down to just above the lashes; the lids open wider or narrower, the skin next to them
    taking up the change, so the eye's corners and everything beyond stay put."""

    def __init__(self, pts: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...],
                 brow: tuple[int, ...], nose: np.ndarray, e: Expression) -> None:
        a, b = pts[upper[0]], pts[upper[-1]]
        if a[0] > b[0]:
            a, b = b, a
        super().__init__(LocalAxes.between(a, b))
        self.upper = self.axes.curve(pts, upper)
        self.lower = self.axes.curve(pts, lower)
        bs, bt = self.axes.curve(pts, brow)
        self.brow_lo, self.brow_hi = float(bs.min()), float(bs.max())
        # The brow's middle line: a straight fit through its points (rows above and below).
        self.brow_fit = np.polyfit(bs, bt, 1)
        nose_s, _ = self.local(np.array(nose[0]), np.array(nose[1]))
        self.towards_nose = 1.0 if float(nose_s) > 0 else -1.0
        self.e = e

    def __call__(self, x: np.ndarray, y: np.ndarray) -> Points:
        s, t = self.local(x, y)
        e = self.e
        upper = np.interp(s, *self.upper)
        lower = np.interp(s, *self.lower)
        if e.brow_up or e.brow_in:
            mid = np.polyval(self.brow_fit, s)
            gap = np.maximum(upper - 0.08 - mid, 0.2)  # brow to just above the lashes
            above = 1.0 - _smoothstep((mid - t) / BROW_FOREHEAD)
            below = 1.0 - _smoothstep((t - mid) / gap)
            centre, half = (self.brow_lo + self.brow_hi) / 2, (self.brow_hi - self.brow_lo) / 2
            across = 1.0 - _smoothstep((np.abs(s - centre) - half) / 0.6)
            w = np.where(t < mid, above, below) * across
            # A raise may not fold the skin it stretches: at most 40% of that skin's height.
            up = np.clip(e.brow_up, -0.8, 0.4 * gap)
            s, t = s - self.towards_nose * e.brow_in * w, t + up * w
        if e.upper_lid or e.lower_lid:
            opening = np.maximum(lower - upper, 0.0)
            new_upper = upper - e.upper_lid * opening
            new_lower = lower - e.lower_lid * opening
            top, bottom = upper - LID_BAND_ABOVE, lower + LID_BAND_BELOW
            inside = (t > top) & (t < bottom) & (opening > 1e-3)
            t_above = top + (t - top) * LID_BAND_ABOVE / np.maximum(new_upper - top, 1e-3)
            t_eye = upper + (t - new_upper) * opening / np.maximum(new_lower - new_upper, 1e-3)
            t_below = lower + (t - new_lower) * LID_BAND_BELOW / np.maximum(bottom - new_lower, 1e-3)
            mapped = np.where(t < new_upper, t_above, np.where(t < new_lower, t_eye, t_below))
            t = np.where(inside, mapped, t)
        return self.image(s, t)


def _warps(landmarks: np.ndarray, e: Expression) -> list[_Corners | _Eye]:
    pts = landmarks[:, :2].astype(np.float64)
    warps: list[_Corners | _Eye] = []
    if e.corner_up or e.corner_out:
        warps.append(_Corners(pts, e.corner_up, e.corner_out))
    if e.brow_up or e.brow_in or e.upper_lid or e.lower_lid:
        nose = pts[fl.NOSE_TIP]
        warps.append(_Eye(pts, fl.RIGHT_EYE_UPPER, fl.RIGHT_EYE_LOWER, RIGHT_BROW, nose, e))
        warps.append(_Eye(pts, fl.LEFT_EYE_UPPER, fl.LEFT_EYE_LOWER, LEFT_BROW, nose, e))
    return warps


def apply_expression(picture: np.ndarray, landmarks: np.ndarray, e: Expression,
                     mask: np.ndarray | None = None, bounds: Box | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The picture with face `landmarks` wearing expression `e`, and the landmarks moved with
    it. `mask` (0..1, the picture's size) limits the change; nothing outside `bounds` changes.
    A neutral expression returns the very same arrays."""
    if e.is_neutral():
        return picture, landmarks
    warps = _warps(landmarks, e)
    height, width = picture.shape[:2]
    xy = landmarks[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.3 * float(max(hi - lo))
    b = bounds or (0, 0, width, height)
    box = (max(int(lo[0] - pad), b[0]), max(int(lo[1] - pad), b[1]),
           min(int(hi[0] + pad) + 1, b[2]), min(int(hi[1] + pad) + 1, b[3]))
    if box[2] <= box[0] or box[3] <= box[1]:
        return picture, landmarks

    def backward(x: np.ndarray, y: np.ndarray) -> Points:
        sx, sy = x, y
        for warp in warps:
            sx, sy = warp(sx, sy)
        if mask is not None:
            m = mask[np.clip(np.round(y).astype(int), 0, height - 1),
                     np.clip(np.round(x).astype(int), 0, width - 1)]
            sx, sy = x + m * (sx - x), y + m * (sy - y)
        inside = (x >= box[0]) & (x < box[2]) & (y >= box[1]) & (y < box[3])
        return np.where(inside, sx, x), np.where(inside, sy, y)

    gy, gx = np.mgrid[box[1]:box[3], box[0]:box[2]].astype(np.float64)
    map_x, map_y = backward(gx, gy)
    out = picture.copy()
    out[box[1]:box[3], box[0]:box[2]] = cv2.remap(
        picture, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT)
    # Where each landmark went: the point the backward map sends onto it (fixed-point steps;
    # the warps are gentle, so a few steps settle to well under a pixel).
    px, py = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    qx, qy = px.copy(), py.copy()
    for _ in range(12):
        sx, sy = backward(qx, qy)
        qx, qy = qx - (sx - px), qy - (sy - py)
    moved = landmarks.astype(np.float64, copy=True)
    moved[:, 0], moved[:, 1] = qx, qy
    return out, moved.astype(landmarks.dtype)
