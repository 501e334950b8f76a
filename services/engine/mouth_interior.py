"""Paints what shows between parted lips: a dark cavity, upper teeth, a hint of tongue.

Colours are taken relative to the face's own lips and skin, so the interior sits in the
picture's lighting instead of looking pasted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.engine import face_landmarks as fl
from services.engine.mouth_warp import MouthWarp

# Where the gaps between the upper front teeth fall, across the opening (0 = the middle).
TOOTH_SEAMS = np.array([0.0, 0.24, 0.45])


@dataclass(frozen=True)
class InteriorPalette:
    cavity: np.ndarray  # (3,) float32 RGB
    teeth: np.ndarray
    tongue: np.ndarray

    @classmethod
    def from_face(cls, image: np.ndarray, landmarks: np.ndarray) -> InteriorPalette:
        """Derive the palette from the lip colour and the overall brightness of the face."""
        h, w = image.shape[:2]

        def sample(indices: tuple[int, ...]) -> np.ndarray:
            pts = np.round(landmarks[list(indices), :2]).astype(int)
            pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
            pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
            return image[pts[:, 1], pts[:, 0]].astype(np.float32).mean(axis=0)

        lips = (sample(fl.OUTER_LIP_LOWER) + sample(fl.INNER_LIP_LOWER)) / 2
        skin = sample((fl.NOSE_TIP, 50, 280, 205, 425))  # nose tip and both cheeks
        light = float(np.clip(skin.mean() / 170.0, 0.45, 1.25))
        # A reddish-dark cavity, and teeth that take on the picture's warmth instead of a flat
        # grey-white, which reads as painted on.
        cavity = lips * 0.32 + np.array([12, 2, 4], np.float32) * light
        teeth = 0.3 * skin + 0.7 * np.array([238, 232, 214], np.float32) * min(light, 1.05)
        tongue = (lips * 0.55 + np.array([150, 60, 66], np.float32) * 0.45) * 0.8
        return cls(cavity.astype(np.float32), teeth.astype(np.float32), tongue.astype(np.float32))


def paint_interior(block: np.ndarray, warp: MouthWarp, palette: InteriorPalette, scale_px: float) -> None:
    """Blend the interior into `block` (HxWx3 uint8, the warped pixels) where the lips part."""
    alpha = warp.interior_alpha
    covered = alpha > 0.0
    if not covered.any() or warp.gap_px < 0.6:
        return
    depth = warp.depth[covered]
    lateral = warp.lateral[covered]
    gap = warp.gap_px
    # Darker towards the back of the mouth, lighter near the lips' edges.
    back = 1.0 - 0.45 * np.exp(-(lateral**2) / 0.35) * np.sin(np.pi * depth)
    colour = palette.cavity[None, :] * back[:, None]

    # Upper teeth hang from the upper lip; their visible height grows with the gap, up to a cap.
    teeth_px = min(0.42 * gap, 0.13 * scale_px)
    teeth_h = teeth_px / max(gap, 1e-3)
    tooth = np.clip((teeth_h - depth) * gap + 0.5, 0, 1) * np.clip((0.8 - np.abs(lateral)) * 8, 0, 1)
    # Fainter towards the corners, shadowed under the lip, with a hint of the gaps between teeth.
    light = (1.0 - 0.4 * lateral**2) * (0.86 + 0.14 * np.clip(depth / max(teeth_h, 1e-3), 0, 1))
    seams = 1.0 - 0.09 * np.exp(-((np.abs(lateral)[:, None] - TOOTH_SEAMS[None, :]) ** 2)
                                / 0.0012).max(axis=1)
    tooth_colour = palette.teeth[None, :] * (light * seams)[:, None]
    colour = colour * (1 - tooth[:, None]) + tooth_colour * tooth[:, None]

    # The tongue shows low in a wide-open mouth.
    if gap > 0.3 * scale_px:
        reach = min(1.0, (gap / scale_px - 0.3) / 0.3)
        blob = np.clip(1 - ((depth - 1.0) / 0.5) ** 2 - (lateral / 0.75) ** 2, 0, 1) * reach
        colour = colour * (1 - blob[:, None]) + palette.tongue[None, :] * blob[:, None]

    a = alpha[covered][:, None]
    current = block[covered].astype(np.float32)
    block[covered] = np.clip(current * (1 - a) + colour * a, 0, 255).astype(np.uint8)
