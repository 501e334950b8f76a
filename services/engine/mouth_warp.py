"""The mouth as a backward warp: where each output pixel of the lower face comes from.

Work happens in a mouth-local frame: origin between the mouth corners, `s` along the corners,
`t` towards the chin, both in units of half the mouth width. The source image's own inner-lip
curves give its current lip gap; the target gap comes from the mouth shape. Output pixels above
the new upper inner lip sample the source shifted with the upper lip, pixels below the new lower
inner lip sample it shifted with the lower lip and jaw, and the gap between is mouth interior.
Closing a source mouth that is open (dubbing) is the same formula with a negative change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.engine import face_landmarks as fl
from services.engine.local_axes import LocalAxes

# Largest lip gap, in half mouth widths (an "aa" opens about 0.45 mouth widths).
MAX_GAP = 0.85
# Share of a gap change taken by the upper lip; the lower lip and jaw take the rest.
UPPER_SHARE = 0.22
WIDTH_REST = 0.2  # the width of a mouth at rest (visemes.CLASS_SHAPES[SILENCE])


@dataclass(frozen=True)
class MouthShapeFrame:
    """One frame's mouth: open, width, round in [0, 1] (the mouth model's outputs)."""

    open: float
    width: float
    round: float


@dataclass
class MouthFrame:
    """The mouth-local frame of one face in one image, and its source lip curves."""

    center: np.ndarray  # (2,) pixels
    axis_s: np.ndarray  # (2,) unit, towards the image-right mouth corner
    axis_t: np.ndarray  # (2,) unit, towards the chin
    half_width: float  # pixels
    upper_s: np.ndarray  # source upper inner lip: s samples (sorted), and t
    upper_t: np.ndarray
    lower_s: np.ndarray
    lower_t: np.ndarray
    nose_t: float
    chin_t: float
    jaw_t: np.ndarray  # face-oval levels below the nose (sorted) and the jaw half-width there
    jaw_half: np.ndarray

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> MouthFrame:
        pts = landmarks[:, :2].astype(np.float64)
        axes = LocalAxes.between(pts[fl.MOUTH_RIGHT], pts[fl.MOUTH_LEFT])
        upper_s, upper_t = axes.curve(pts, fl.INNER_LIP_UPPER)
        lower_s, lower_t = axes.curve(pts, fl.INNER_LIP_LOWER)
        # The lower inner lip never lies above the upper one.
        lower_t = np.maximum(lower_t, np.interp(lower_s, upper_s, upper_t))
        _, (nose_t,) = axes.curve(pts, (fl.NOSE_TIP,))
        _, (chin_t,) = axes.curve(pts, (fl.CHIN,))
        oval_s, oval_t = axes.curve(pts, fl.FACE_OVAL)
        below = oval_t > nose_t
        jaw_t, jaw_half = _jaw_profile(oval_s[below], oval_t[below])
        return cls(axes.center, axes.axis_s, axes.axis_t, axes.half, upper_s, upper_t, lower_s, lower_t,
                   float(nose_t), float(max(chin_t, 1.0)), jaw_t, jaw_half)

    def source_gap(self) -> float:
        """The source lip gap at the mouth's middle, in half mouth widths."""
        return float(np.interp(0.0, self.lower_s, self.lower_t)
                     - np.interp(0.0, self.upper_s, self.upper_t))

    def to_local(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = xs - self.center[0], ys - self.center[1]
        s = (dx * self.axis_s[0] + dy * self.axis_s[1]) / self.half_width
        t = (dx * self.axis_t[0] + dy * self.axis_t[1]) / self.half_width
        return s, t

    def to_image(self, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self.half_width
        sx, sy = np.float32(h * self.axis_s[0]), np.float32(h * self.axis_s[1])
        tx, ty = np.float32(h * self.axis_t[0]), np.float32(h * self.axis_t[1])
        xs = s * sx + t * tx + np.float32(self.center[0])
        ys = s * sy + t * ty + np.float32(self.center[1])
        return xs, ys

    def roi(self, image_size: tuple[int, int], max_gap: float = MAX_GAP) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) holding everything the warp can touch."""
        reach_s = float(self.jaw_half.max(initial=2.0)) + 0.6
        bottom = self.chin_t + max_gap * 1.6 + 0.8
        corners_s = np.array([-reach_s, reach_s, -reach_s, reach_s])
        corners_t = np.array([self.nose_t, self.nose_t, bottom, bottom])
        xs, ys = self.to_image(corners_s, corners_t)
        width, height = image_size
        x0, x1 = int(max(0, np.floor(xs.min()))), int(min(width, np.ceil(xs.max()) + 1))
        y0, y1 = int(max(0, np.floor(ys.min()))), int(min(height, np.ceil(ys.max()) + 1))
        return x0, y0, x1, y1


def _jaw_profile(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-width of the face outline at each level below the nose, sorted by level."""
    levels = np.linspace(t.min(), t.max(), 12)
    half = np.empty_like(levels)
    for i, level in enumerate(levels):
        near = np.abs(t - level) <= max(0.35, (t.max() - t.min()) / 10)
        half[i] = np.abs(s[near]).max() if near.any() else 0.0
    return levels, half


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class MouthWarp:
    """Result of warping the mouth for one frame, over a block of output pixels."""

    src_x: np.ndarray
    src_y: np.ndarray
    interior_alpha: np.ndarray  # 0..1, where the mouth interior shows
    depth: np.ndarray  # 0 at the upper inner lip, 1 at the lower, inside the gap
    lateral: np.ndarray  # -1..1 across the opening
    gap_px: float  # the opening at the middle, pixels


class MouthWarper:
    """Warps the mouth over one fixed block of pixels, frame after frame.

    Everything that depends only on where a pixel is (its mouth-local coordinates, how far it
    follows the jaw, how much the corners' spread reaches it) is computed once; a frame then
    costs a few dozen float32 array operations.
    """

    def __init__(self, frame: MouthFrame, xs: np.ndarray, ys: np.ndarray,
                 neutralise_jaw: bool = False) -> None:
        """`neutralise_jaw`: the source's lip gap is speech (a video frame), so the jaw closes
        it as well as the lips; otherwise (a photo) the jaw stays where the source has it."""
        self.frame = frame
        s, t = frame.to_local(xs.astype(np.float64), ys.astype(np.float64))
        self.s = s.astype(np.float32)
        self.t = t.astype(np.float32)
        near_lips = np.exp(-((t - 0.1) ** 2) / (2 * 0.42**2))
        lateral_fade = np.exp(-(np.maximum(np.abs(s) - 1.1, 0) ** 2) / (2 * 0.35**2))
        self.spread_reach = (near_lips * lateral_fade).astype(np.float32)
        jaw_half = np.interp(t, frame.jaw_t, frame.jaw_half)
        self.inside_jaw = _smoothstep((jaw_half - np.abs(s)) / 0.45 + 0.3).astype(np.float32)
        self.above_nose = (t - frame.nose_t).astype(np.float32)
        self.rigid_scale = np.float32(1.0 / (0.55 * max(frame.chin_t - 0.2, 0.5)))
        self.jaw_open_in_source = max(frame.source_gap(), 0.0) if neutralise_jaw else 0.0

    def warp(self, shape: MouthShapeFrame) -> MouthWarp:
        """Backward map for the block so the mouth takes `shape`."""
        frame, s, t = self.frame, self.s, self.t
        # Corners spread with width and pull in with rounding; the effect fades away from the lips.
        omega = 0.20 * (shape.width - WIDTH_REST) - 0.20 * shape.round
        s_src = s / (1.0 + np.float32(omega) * self.spread_reach)

        upper = np.interp(s_src, frame.upper_s, frame.upper_t).astype(np.float32)
        lower = np.interp(s_src, frame.lower_s, frame.lower_t).astype(np.float32)
        gap_now = np.maximum(lower - upper, 0.0)
        # A rounder mouth opens rounder: a fuller lens profile across the opening.
        exponent = np.float32(0.75 - 0.35 * shape.round)
        lens = np.maximum(1.0 - s_src * s_src, 0.0) ** exponent
        target_gap = np.float32(MAX_GAP * shape.open) * lens
        change = target_gap - gap_now

        new_upper = upper - np.float32(UPPER_SHARE) * change
        new_lower = lower + np.float32(1 - UPPER_SHARE) * change
        middle = 0.5 * (new_upper + new_lower)

        # Above the lips: the upper lip's shift fades out towards the nose.
        fade_up = _smoothstep(self.above_nose / np.maximum(new_upper - np.float32(frame.nose_t), 1e-3))
        t_from_upper = t + np.float32(UPPER_SHARE) * change * fade_up

        # Below the lips: near the lip follow the lip's profile; further down the jaw moves as one.
        jaw_change = np.float32((1 - UPPER_SHARE) * (MAX_GAP * shape.open - self.jaw_open_in_source))
        rigid = _smoothstep((t - new_lower) * self.rigid_scale)
        lip_change = np.float32(1 - UPPER_SHARE) * change
        shift = lip_change + rigid * (jaw_change - lip_change)
        follow = np.where(np.abs(s_src) < 1.0, np.maximum(self.inside_jaw, 1 - rigid), self.inside_jaw)
        below_chin = 1 - _smoothstep((t - np.float32(frame.chin_t) - np.maximum(jaw_change, 0))
                                     / np.float32(0.9))
        t_from_lower = t - shift * follow * below_chin

        t_src = np.where(t < middle, t_from_upper, t_from_lower)
        src_x, src_y = frame.to_image(s_src, t_src)

        px = np.float32(frame.half_width)
        alpha = np.clip((t - new_upper) * px + 0.5, 0, 1) * np.clip((new_lower - t) * px + 0.5, 0, 1)
        # Where the lips meet (gap under a pixel) nothing of the interior shows.
        alpha *= np.clip(target_gap * px - 0.5, 0, 1)
        depth = np.clip((t - new_upper) / np.maximum(new_lower - new_upper, 1e-3), 0, 1)
        return MouthWarp(
            src_x=src_x.astype(np.float32, copy=False),
            src_y=src_y.astype(np.float32, copy=False),
            interior_alpha=alpha,
            depth=depth,
            lateral=np.clip(s / np.float32(max(1.0 + omega, 0.3)), -1, 1),
            gap_px=float(MAX_GAP * shape.open * px),
        )
