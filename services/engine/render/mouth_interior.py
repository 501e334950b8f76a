"""Paints what shows between parted lips: rows of teeth, a tongue, gums, a graded cavity.

All geometry lives in the mouth-local frame of `mouth_warp` (half mouth widths), so it is the
same at any resolution and stays still from frame to frame:
- the upper teeth hang from the closed upper lip (the skull): they never move with speech, the
  upper lip just uncovers more of them as it rises;
- the lower teeth ride on the jaw, `jaw_drop` below a closed bite (a small overbite);
- each tooth lies on a dental arch seen from the front, so teeth narrow and darken towards the
  corners; teeth have rounded incisal corners, pointed canines, dark gaps between them, a
  shadow under the lip and a slightly translucent edge;
- the tongue's top rises for front vowels (wide, little open) and lies low for "a";
- gums show only where a very wide opening lifts the lip past the crowns;
- the cavity is darkest at the back and lightens towards the lips and the corners.
Colours come from the face (cheeks and lips, in CIE Lab): teeth sit about 20 L* above the
cheeks, the cavity is a dark red of the lips' hue, never black.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.faces import face_landmarks as fl
from services.engine.render.mouth_bank import Patch, lay_patch
from services.engine.render.mouth_warp import MouthWarp

# Widths of the visible teeth from the middle outwards, along the arch (half mouth widths: a
# 50 mm mouth makes 1.0 = 25 mm; central incisor 8.5 mm, lateral 6.5, canine 7.5, premolars 7).
UPPER_TEETH = np.array([0.34, 0.26, 0.30, 0.28, 0.27, 0.40])
LOWER_TEETH = np.array([0.21, 0.24, 0.28, 0.28, 0.28, 0.40])
UPPER_ARCH = 0.95  # radius of the arch as seen from the front
LOWER_ARCH = 0.8
# Upper teeth show this far below the closed upper lip at the middle (about 2-3 mm).
TEETH_SHOW = 0.14
OVERBITE = 0.05  # the lower edge sits this far above the upper edge when shut
UPPER_CROWN = 0.40  # crown heights: above (below) them the gums begin
LOWER_CROWN = 0.34
# Per tooth (centre outwards): how much shorter than the central incisors, and cusp pointedness.
UPPER_SHORTER = np.array([0.0, 0.025, 0.0, 0.02, 0.03, 0.05])
UPPER_CUSP = np.array([0.0, 0.0, 0.05, 0.03, 0.03, 0.02])
LOWER_SHORTER = np.array([0.0, 0.0, -0.01, 0.02, 0.03, 0.05])
# A borrowed interior starts RIM_START_PX above the target's lower lip and shows whole
# RIM_FADE_PX higher, or over RIM_SHARE_START and RIM_SHARE_FADE of a narrower opening
# (`patch_reach`); below, the lip's lining shows at LINING_SHADE.
RIM_START_PX = 1.0
RIM_FADE_PX = 4.0
RIM_SHARE_START = 0.1
RIM_SHARE_FADE = 0.3
LINING_SHADE = 0.8


def _lab_to_rgb(lab: tuple[float, float, float]) -> np.ndarray:
    pixel = np.array([[lab]], np.float32)
    return (np.clip(cv2.cvtColor(pixel, cv2.COLOR_Lab2RGB)[0, 0], 0, 1) * 255).astype(np.float32)


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    pixel = np.asarray(rgb, np.float32).reshape(1, -1, 3) / 255.0
    return np.asarray(cv2.cvtColor(pixel, cv2.COLOR_RGB2Lab)[0], np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    """`x` clamped to [0, 1] (np.clip costs several times more on the small arrays here)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = _unit(x)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class InteriorPalette:
    cavity: np.ndarray  # (3,) float32 RGB
    teeth: np.ndarray
    tongue: np.ndarray
    gum: np.ndarray
    mucosa: np.ndarray  # the wet inner side of the lips

    @classmethod
    def from_face(cls, image: np.ndarray, landmarks: np.ndarray) -> InteriorPalette:
        """Colours relative to the face's own skin and lips, so the interior sits in the
        picture's light; teeth the source itself shows lend their colour."""
        h, w = image.shape[:2]
        xy = landmarks[:, :2]

        def pixels(indices: tuple[int, ...]) -> np.ndarray:
            pts = np.round(xy[list(indices)]).astype(int)
            pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
            pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
            return image[pts[:, 1], pts[:, 0]].astype(np.float32)

        lips = _rgb_to_lab(np.concatenate([pixels(fl.OUTER_LIP_LOWER), pixels(fl.INNER_LIP_LOWER)])
                           ).mean(axis=0)
        skin_px = _rgb_to_lab(pixels((50, 280, 205, 425, 36, 266)))
        skin = np.median(skin_px, axis=0)
        skin_l = float(skin[0])
        teeth = (float(np.clip(skin_l + 25, 70, 98)), 0.5 + 0.05 * float(skin[1]),
                 7.0 + 0.12 * float(skin[2]))
        shown = _shown_teeth(image, xy)
        if shown is not None and shown[0] > skin_l + 4:
            # The photo's own teeth: their hue, at least as bright as painted ones would be.
            teeth = (max(float(shown[0]), teeth[0]), float(shown[1]), float(shown[2]))
        lip_l, lip_a, lip_b = (float(v) for v in lips)
        light = float(np.clip(skin_l / 70.0, 0.55, 1.2))
        cavity = (27.0 * light, 0.55 * lip_a + 3, 0.45 * lip_b)
        tongue = (float(np.clip(0.78 * lip_l, 30, 62)), 1.05 * lip_a + 6, 0.75 * lip_b)
        gum = (float(np.clip(0.92 * lip_l + 6, 35, 72)), lip_a + 10, 0.8 * lip_b)
        mucosa = (0.85 * lip_l, 1.05 * lip_a + 4, 0.8 * lip_b)
        return cls(*(_lab_to_rgb(c) for c in (cavity, teeth, tongue, gum, mucosa)))


def _shown_teeth(image: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """Mean Lab of the brightest 15% inside the source's inner lips, when the lips are parted."""
    inner = np.round(xy[list(fl.INNER_LIPS)]).astype(np.int32)
    x0, y0 = np.maximum(inner.min(axis=0), 0)
    x1, y1 = inner.max(axis=0) + 1
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [inner - np.array([x0, y0])], (1,))
    crop = image[y0:y1, x0:x1][mask[: image.shape[0] - y0, : image.shape[1] - x0].astype(bool)]
    if crop.shape[0] < 40:
        return None
    lab = _rgb_to_lab(crop)
    top = lab[lab[:, 0] >= np.percentile(lab[:, 0], 85)]
    return top.mean(axis=0)


def _arch(s: np.ndarray, radius: float, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points across the mouth: which tooth (0 = central), where in it (0..1 from the middle
    side), and how much it faces the viewer (the cosine of its angle on the arch)."""
    theta = np.arcsin(np.clip(s / radius, -0.985, 0.985))
    along = np.abs(radius * theta)
    bounds = np.concatenate([[0.0], np.cumsum(widths)])
    k = np.clip(np.searchsorted(bounds, along, side="right") - 1, 0, widths.size - 1)
    u = _unit((along - bounds[k]) / widths[k])
    return k, u, np.cos(theta)


# Tone per tooth from the middle out: canines and premolars are a little yellower and further back.
TOOTH_TONE = np.array([1.0, 0.97, 0.9, 0.86, 0.82, 0.75])
# Small fixed irregularities per tooth (half mouth widths of length; tone uses them scaled).
UNEVEN_RIGHT = np.array([0.006, -0.008, 0.01, -0.006, 0.004, 0.0])
UNEVEN_LEFT = np.array([-0.004, 0.009, -0.005, 0.007, -0.003, 0.0])


def _row(s: np.ndarray, px: float, radius: float, widths: np.ndarray, shorter: np.ndarray,
         cusp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A row of teeth: how far each point's incisal edge is pulled back (half mouth widths),
    the tooth's own shading (rounded face, turning away along the arch, its tone), and how
    close the point is to the gap between two teeth (1 on the gap, in pixels' terms)."""
    k, u, facing = _arch(s, radius, widths)
    edge_u = np.abs(2 * u - 1)
    left = s > 0
    # Rounded incisal corners open small dark notches between teeth; canines come to a point.
    # No two teeth are quite alike: fixed small differences in length and tone, left and right.
    pull = (shorter[k] + 0.05 * edge_u**5 * np.minimum(widths[k] / 0.3, 1.0) + cusp[k] * edge_u**1.5
            + np.where(left, UNEVEN_LEFT[k], UNEVEN_RIGHT[k]))
    gap_px = np.minimum(u, 1 - u) * widths[k] * facing * px
    # A soft highlight a little off each tooth's middle, as on a convex, wet surface.
    shine = 0.07 * np.exp(-(((2 * u - 1) + 0.25) / 0.35) ** 2)
    shade = (0.84 + 0.16 * np.sqrt(np.maximum(1 - edge_u**2, 0)) + shine) * (0.45 + 0.55 * facing**0.8)
    tone = TOOTH_TONE[k] * (1 + 2.5 * np.where(left, UNEVEN_RIGHT[k], UNEVEN_LEFT[k]))
    return pull, shade * tone, np.exp(-((gap_px / 0.8) ** 2))


def _shaded(palette: InteriorPalette, light: np.ndarray) -> np.ndarray:
    """Teeth colour under `light`: shade is lit by the mouth's own warm dark, not grey."""
    dim = _unit(1 - light)[:, None]
    return palette.teeth[None, :] * light[:, None] + palette.cavity[None, :] * 1.6 * dim


def patch_reach(t: np.ndarray, upper: np.ndarray, lower: np.ndarray, px: float) -> np.ndarray:
    """How much of a borrowed interior (a `mouth_bank` patch) shows at points `t` between the
    target's inner lips `upper` and `lower` (half mouth widths; `px` pixels to one): none on
    the last pixel above the lower lip, all from a few pixels up (a narrow opening, towards the
    corners or barely open, keeps its teeth: there the band shrinks with the opening). A patch
    is chosen for the widest the opening gets, so against the target's lower lip mostly lies
    the middle of the source's dark cavity, which drew a hard dark line along the lip; there
    the lip's own lining shows instead."""
    gap = np.maximum((lower - upper) * px, 1e-3)
    start = np.minimum(np.float32(RIM_START_PX), RIM_SHARE_START * gap)
    fade = np.minimum(np.float32(RIM_FADE_PX), RIM_SHARE_FADE * gap)
    return _smoothstep(((lower - t) * px - start) / fade).astype(np.float32)


def tongue_height(open_: float, width: float, round_: float) -> float:
    """0 (lying low, "a") .. 1 (raised, "ee") as a share of the space between the teeth."""
    return float(np.clip(0.5 + 0.4 * np.clip(width - 0.35 * open_, 0, 1) * (1 - round_), 0, 0.9))


def paint_interior(block: np.ndarray, warp: MouthWarp, palette: InteriorPalette, scale_px: float,
                   softness: float = 0.0, reuse: tuple[Patch, float] | None = None) -> None:
    """Blend the interior into `block` (HxWx3 uint8, the warped pixels) where the lips part.

    `scale_px` is the mouth width in pixels (two half widths). `softness`: a blur (pixels) so
    the painting is no sharper than the picture around it (an upscaled photo is soft).
    `reuse`: the speaker's own interior (a `mouth_bank` patch) and its weight, laid under the
    upper lip over the painting where it has pixels."""
    alpha = warp.interior_alpha
    covered = alpha > 0.0
    if not covered.any() or warp.gap_px < 0.6:
        return
    px = scale_px / 2
    s, t = warp.s[covered], warp.t[covered]
    upper, lower = warp.new_upper[covered], warp.new_lower[covered]
    closed = warp.closed_upper[covered]
    shape = warp.shape
    # Teeth come in as the lips part by a few pixels, so a slit never flashes white.
    reveal = min(max((warp.gap_px - 1.5) / 3.0, 0.0), 1.0)

    # Cavity: dark at the back, lighter near the lips' edges and towards the corners.
    edge = np.minimum(t - upper, lower - t)
    glow = 0.72 + 0.3 * np.exp(-np.maximum(edge, 0) / 0.05) + 0.25 * _unit(np.abs(s) - 0.3)
    colour = palette.cavity[None, :] * np.minimum(glow, 1.25)[:, None]

    upper_edge = closed + TEETH_SHOW * (1 - 0.45 * s * s)
    lower_edge = upper_edge - OVERBITE + warp.jaw_drop

    # Right under the upper teeth the cavity lies in their shadow.
    colour *= (0.8 + 0.2 * _smoothstep((t - upper_edge) / 0.1))[:, None]

    # The tongue, behind the lower teeth; its top a dome across the mouth.
    lift = tongue_height(shape.open, shape.width, shape.round)
    top = lower_edge - lift * np.maximum(lower_edge - upper_edge, 0.0) + 0.55 * s * s
    cover = _unit((t - top) * px + 0.5) * _unit((0.85 - np.abs(s)) * px * 0.3)
    on = cover > 0
    if on.any():
        so, to, topo = s[on], t[on], top[on]
        # Its top recedes into the dark: lit towards the tip and the middle, a faint groove
        # down the middle, darker at the sides where it curves away.
        towards_tip = _smoothstep((to - topo) / np.maximum(lower_edge[on] - topo, 0.02))
        sheen = ((0.62 + 0.38 * towards_tip) * (1 - 0.5 * so * so)
                 * (1 - 0.12 * np.exp(-((so / 0.05) ** 2))))
        colour[on] += (palette.tongue[None, :] * sheen[:, None] - colour[on]) * cover[on][:, None]

    # Lower teeth ride on the jaw; only their top shows above the lower lip.
    on = t > lower_edge - 0.01
    if reveal > 0 and on.any():
        so, to = s[on], t[on]
        pull, shade, seam = _row(so, px, LOWER_ARCH, LOWER_TEETH, LOWER_SHORTER, np.zeros(6))
        edge_line = lower_edge[on] + pull
        cover = _unit((to - edge_line) * px + 0.5) * reveal
        # In the upper teeth's and the lip's shadow, the lower row is dimmer.
        lit = 0.74 + 0.1 * _unit((to - edge_line) / 0.08)
        tooth = _shaded(palette, shade * lit * (1 - 0.3 * seam))
        gum_line = lower_edge[on] + LOWER_CROWN + 0.04 * np.cos(np.pi * so / 0.3)
        tooth += (palette.gum[None, :] - tooth) * _unit((to - gum_line) * px + 0.5)[:, None]
        colour[on] += (tooth - colour[on]) * cover[:, None]

    # Upper teeth hang from the skull; the upper lip shades their top.
    on = t < upper_edge + 0.01
    if reveal > 0 and on.any():
        so, to = s[on], t[on]
        pull, shade, seam = _row(so, px, UPPER_ARCH, UPPER_TEETH, UPPER_SHORTER, UPPER_CUSP)
        edge_line = upper_edge[on] - pull
        cover = _unit((edge_line - to) * px + 0.5) * reveal
        under_lip = 0.84 + 0.16 * _smoothstep((to - upper[on]) / 0.06)
        from_edge = np.maximum(edge_line - to, 0)
        # Gaps show most towards the biting edge; the edge itself is a little translucent.
        gaps = 1 - seam * (0.18 + 0.22 * np.exp(-from_edge / 0.06))
        tooth = _shaded(palette, shade * under_lip * gaps)
        tooth += (palette.cavity[None, :] * 2.6 - tooth) * (0.2 * np.exp(-from_edge / 0.025))[:, None]
        # Gums show only where a very wide opening lifts the lip past the crowns.
        gum_line = upper_edge[on] - UPPER_CROWN - 0.04 * np.cos(np.pi * so / 0.34)
        tooth += (palette.gum[None, :] - tooth) * _unit((gum_line - to) * px + 0.5)[:, None]
        colour[on] += (tooth - colour[on]) * cover[:, None]

    if reuse is not None:
        patch, weight = reuse
        real, valid = lay_patch(patch, s, t - upper)
        # Over the target's lower lip the patch grades into the lip's wet lining, a little
        # in shadow (`patch_reach`), rather than into the painting, whose lower teeth would
        # draw a light line there instead.
        reach = patch_reach(t, upper, lower, px)[:, None]
        lined = real * reach + palette.mucosa[None, :] * np.float32(LINING_SHADE) * (1 - reach)
        colour += (lined - colour) * (valid * np.float32(weight))[:, None]

    # The wet inner side of the lips lines the opening for a pixel or two.
    lining = np.exp(-np.maximum(lower - t, 0) * px / 1.2) * 0.5
    colour += (palette.mucosa[None, :] - colour) * lining[:, None]

    a = alpha[covered][:, None]
    if softness < 0.3:
        current = block[covered].astype(np.float32)
        block[covered] = np.clip(current * (1 - a) + colour * a, 0, 255).astype(np.uint8)
        return
    # Blur the painting (premultiplied by its coverage) and its coverage alike.
    premult = np.zeros(block.shape, np.float32)
    coverage = np.zeros(block.shape[:2], np.float32)
    premult[covered] = colour * a
    coverage[covered] = a[:, 0]
    painted = np.asarray(cv2.GaussianBlur(premult, (0, 0), softness), np.float32)
    cover = np.asarray(cv2.GaussianBlur(coverage, (0, 0), softness), np.float32)
    out = block.astype(np.float32) * (1 - cover[..., None]) + painted
    block[:] = np.clip(out, 0, 255).astype(np.uint8)
