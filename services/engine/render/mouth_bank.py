"""The speaker's own mouth interiors, taken from a dubbed video's frames (Video Rewrite's idea).

Before a video is dubbed, its frames are read once and the speaker's mouth opening measured on
each (the same tracker the render uses; the landmarks are kept, so the render tracks nothing
again). Every frame whose mouth is open enough may lend its interior: the pixels below its upper
inner lip, sampled in the mouth-local frame (across the mouth, and down from the upper lip in
half mouth widths, not stretched) into a small patch, together with the light on the skin
around its lips. A few patches are kept per band of opening (the most open of the band, spread
in time), so the memory is bounded however long the video, and the render draws from the whole
video's bank from its first frame on.

A new frame that needs an opening takes the patch of the most similar opening under the most
similar light, lays it under its own upper lip (so it follows the target's inner-lip landmarks:
position, angle and scale), with feathered edges, and where the patch ends (a wider opening than
any seen) the painted interior shows. The patch is brought to the target frame's light: a gain
per colour channel, in linear light, from the skin ring around the source's lips to the skin
ring around the target's. One opening of the dub (from the lips parting to their meeting again)
shows one patch, chosen for the widest the opening gets (`opening_reach`), so a patch changes
where the lips (nearly) meet and nothing of it shows. Two patches are different frames of the
source: blended, their teeth lie at different depths and show as grey ghosts, so a change in mid
opening (only the light can ask for one) is crossfaded over a few frames, and one at a closure
is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from services.engine.render.mouth_warp import MouthFrame
from services.engine.render.mouth_warp import lab as _lab

PATCH_WIDTH = 96  # samples across s in [-1, 1]
PATCH_DEPTH = 0.8  # half mouth widths below the upper inner lip
PATCH_ROWS = 40
MIN_GAP = 0.18  # a source opening worth keeping (half mouth widths)
MIN_INTERIOR = 0.3  # share of a patch unlike the lips for it to be kept (else the mesh misread)
LIP_DISTANCE = 15.0  # Lab distance from the lips' colour of a pixel that is not lip
KEEP = 12  # opening bands kept (the most open ones)
PER_BAND = 3  # patches kept per band
BAND = 0.05  # width of an opening band
FADE_IN = 12  # frames over which reuse fades in, when the bank fills while rendering
RENEW = 25  # frames between two patches of one band (light changes slowly)
CROSSFADE = 6  # frames over which a change of patch blends
HOLD_MARGIN = 0.1  # a held patch gives way to one this much (half mouth widths) closer in opening
LIGHT_COST = 0.15  # cost of a patch per unit of light difference (log gain), in half mouth widths
LIGHT_SMOOTHING = 0.25  # share of a frame's measured light taken into the running estimate
MAX_GAIN = 2.5  # colour gains are clipped to [1 / MAX_GAIN, MAX_GAIN]
# A patch's top rows that are lip (`lip_rows`): looked for over TOP_BAND (half mouth widths), cut
# off up to MAX_LIP_TRIM, where the lip stands LIP_DIP L* above the dark line under it.
TOP_BAND = 0.3
MAX_LIP_TRIM = 0.12
LIP_DIP = 2.0
# A patch's top rows still red with the upper lip's edge (`red_rows`): cut where the rows' red
# (a*) has fallen RED_EDGE_SHARE of the way (the edge's middle) from the top row's to the
# teeth's, if the top row stands LIP_RED a* above the teeth.
LIP_RED = 12.0
RED_EDGE_SHARE = 0.75
SHUT_GAP = 0.05  # an opening under this (half mouth widths) shows no interior: a patch may change
# Towards the corners a patch is blurred (`soft_corners`): from CORNER_SOFT_FROM across the mouth
# (s), fully CORNER_SOFT_SPAN further out, by CORNER_BLUR patch samples (about a pixel and a half).
CORNER_SOFT_FROM = 0.5
CORNER_SOFT_SPAN = 0.3
CORNER_BLUR = 1.5


def _ring_points(mouth: MouthFrame) -> tuple[np.ndarray, np.ndarray]:
    """Skin around the lips, in the mouth-local frame: above the upper lip, below the lower
    one (both following the lips, so an open mouth moves the lower ones with the jaw), and the
    cheeks beside the corners."""
    s = np.linspace(-0.9, 0.9, 16, dtype=np.float32)
    above = np.interp(s, mouth.outer_upper_s, mouth.outer_upper_t).astype(np.float32) - 0.22
    below = np.interp(s, mouth.outer_lower_s, mouth.outer_lower_t).astype(np.float32) + 0.22
    side = np.linspace(-0.35, 0.35, 6, dtype=np.float32)
    ss = np.concatenate([s, s, np.full(6, -1.45, np.float32), np.full(6, 1.45, np.float32)])
    tt = np.concatenate([above, below, side, side])
    return ss, tt


def _linear(rgb: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(rgb, 0.0) / 255.0, 2.2, dtype=np.float32)


def _srgb(linear: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(linear, 0.0), 1 / 2.2, dtype=np.float32) * 255.0


def ring_light(frame_rgb: np.ndarray, mouth: MouthFrame) -> np.ndarray:
    """Mean linear RGB (3,) of the skin around the lips: the light the mouth sits in."""
    taken = mouth.sample(frame_rgb, *_ring_points(mouth))
    return np.maximum(_linear(taken.reshape(-1, 3).astype(np.float32)).mean(axis=0), 1e-4).astype(np.float32)


@dataclass
class Patch:
    gap: float  # the source's opening at the middle, half mouth widths
    pixels: np.ndarray  # PATCH_ROWS x PATCH_WIDTH x 3 float32
    valid: np.ndarray  # PATCH_ROWS x PATCH_WIDTH float32: 1 inside the source's opening
    light: np.ndarray | None = None  # the source's ring_light, linear RGB (3,)
    frame: int = -1  # the source frame it came from


def _sample(frame_rgb: np.ndarray, mouth: MouthFrame, s: np.ndarray, tt: np.ndarray) -> np.ndarray:
    # Bicubic here and in lay_patch: a borrowed tooth is resampled twice on its way, and twice
    # bilinear blurs a tooth a few pixels wide into its dark gaps (dimmer, greyer teeth).
    return mouth.sample(frame_rgb, s[None, :], tt, cv2.INTER_CUBIC).astype(np.float32)


def lip_rows(pixels: np.ndarray) -> int:
    """How many of a patch's top rows are still upper lip: a pale lip over a dark line over
    brighter teeth (the lip's edge read a little high) is cut off at the dark line, or laid
    under the target's own upper lip it would show as a second lip and narrow the opening."""
    s = np.linspace(-1.0, 1.0, pixels.shape[1])
    rows = int(TOP_BAND / PATCH_DEPTH * (PATCH_ROWS - 1)) + 1
    light = _lab(pixels[:rows, np.abs(s) <= 0.5].reshape(-1, 3))[:, 0].reshape(rows, -1)
    profile = np.median(light, axis=1)
    brightest = int(np.argmax(profile))
    if brightest == 0:
        return 0
    darkest = int(np.argmin(profile[:brightest]))
    lip_above = float(profile[:darkest].max(initial=-np.inf)) - float(profile[darkest])
    if darkest * PATCH_DEPTH / (PATCH_ROWS - 1) > MAX_LIP_TRIM or lip_above < LIP_DIP:
        return 0
    return darkest


def red_rows(pixels: np.ndarray) -> float:
    """How many of a patch's top rows (fractional) are still red with the upper lip's edge over
    teeth right under it. Without a dark line between them `lip_rows` sees no lip, but the edge
    (and its colour, which video carries at half resolution, bleeding a pixel into the teeth)
    laid under the target's own upper lip showed as a red line above the teeth."""
    s = np.linspace(-1.0, 1.0, pixels.shape[1])
    rows = int(TOP_BAND / PATCH_DEPTH * (PATCH_ROWS - 1)) + 1
    seen = _lab(pixels[:rows, np.abs(s) <= 0.5].reshape(-1, 3)).reshape(rows, -1, 3)
    light, red = np.median(seen[..., 0], axis=1), np.median(seen[..., 1], axis=1)
    teeth = int(np.argmax(light))
    if teeth == 0 or red[0] - red[teeth] < LIP_RED:
        return 0.0
    edge = red[teeth] + (1 - RED_EDGE_SHARE) * (red[0] - red[teeth])
    past = int(np.argmax(red[:teeth + 1] <= edge))  # the first row past the lip's red
    before = red[past - 1]
    cut = past - 1 + (before - edge) / max(before - red[past], 1e-3)
    return float(min(cut, MAX_LIP_TRIM / PATCH_DEPTH * (PATCH_ROWS - 1)))


def soft_corners(pixels: np.ndarray) -> np.ndarray:
    """A patch's pixels blurred towards the corners (from CORNER_SOFT_FROM across the mouth,
    fully CORNER_SOFT_SPAN further out). There the source's lips meet at a slant: its thin dark
    creases and lip texture, resampled twice on their way into another mouth, showed as ragged
    dark dots and wedges at the dub's corners, which lie in shadow and are soft in a real mouth."""
    s = np.abs(np.linspace(-1.0, 1.0, pixels.shape[1], dtype=np.float32))
    soft = cv2.GaussianBlur(pixels, (0, 0), CORNER_BLUR)
    w = np.clip((s - CORNER_SOFT_FROM) / CORNER_SOFT_SPAN, 0, 1)[None, :, None]
    return (pixels * (1 - w) + soft * w).astype(np.float32)


def cut_patch(frame_rgb: np.ndarray, mouth: MouthFrame, index: int = -1) -> Patch:
    """The interior under `mouth`'s upper inner lip in `frame_rgb`, as a patch (starting under
    any rows of lip left above it, `lip_rows` and `red_rows`)."""
    s = np.linspace(-1.0, 1.0, PATCH_WIDTH, dtype=np.float32)
    depth = np.linspace(0.0, PATCH_DEPTH, PATCH_ROWS, dtype=np.float32)
    upper = np.interp(s, mouth.upper_s, mouth.upper_t).astype(np.float32)
    lower = np.interp(s, mouth.lower_s, mouth.lower_t).astype(np.float32)
    tt = upper[None, :] + depth[:, None]
    pixels = _sample(frame_rgb, mouth, s, tt)
    trim = np.float32(max(lip_rows(pixels), red_rows(pixels)) * PATCH_DEPTH / (PATCH_ROWS - 1))
    if trim > 0:
        tt = tt + trim
        pixels = _sample(frame_rgb, mouth, s, tt)
    # Inside the opening, fading out a pixel or two before the lower lip, a few pixels before
    # the corners (where the lips meet at a slant) and over the patch's last rows.
    px = mouth.half_width
    valid = np.clip((lower[None, :] - tt) * px / 2.0, 0, 1)
    valid *= np.clip((1.0 - np.abs(s))[None, :] * px / 4.0, 0, 1)
    valid *= np.clip((PATCH_DEPTH - depth)[:, None] / (0.15 * PATCH_DEPTH), 0, 1)
    return Patch(mouth.source_gap() - float(trim), soft_corners(pixels), valid.astype(np.float32),
                 ring_light(frame_rgb, mouth), index)


def interior_share(frame_rgb: np.ndarray, mouth: MouthFrame, patch: Patch) -> float:
    """How much of the patch's opening is unlike the lips around it (teeth, tongue, dark): a
    mouth the mesh reads as a little open while the lips still touch gives a patch of lip."""
    s = np.linspace(-0.6, 0.6, 12, dtype=np.float32)
    upper = np.interp(s, mouth.upper_s, mouth.upper_t).astype(np.float32) - 0.08
    lower = np.interp(s, mouth.lower_s, mouth.lower_t).astype(np.float32) + 0.08
    lips = mouth.sample(frame_rgb, np.concatenate([s, s]), np.concatenate([upper, lower]))
    # Every other row and third column are enough to tell.
    inside = patch.valid[::2, ::3] > 0.5
    if not inside.any():
        return 0.0
    # At a common exposure (the lips' mean brought to a fixed brightness), so that the test
    # does not depend on the light.
    lips_linear = _linear(lips.reshape(-1, 3).astype(np.float32)).mean(axis=0)
    gain = np.float32(0.2 / max(float(lips_linear.mean()), 1e-4))
    lip_lab = _lab(_srgb(lips_linear[None, :] * gain)).mean(axis=0)
    seen = _lab(_srgb(_linear(patch.pixels[::2, ::3][inside]) * gain))
    far = np.linalg.norm(seen - lip_lab, axis=1) > LIP_DISTANCE
    return float(far.mean())


def _relit(patch: Patch, light: np.ndarray | None) -> np.ndarray:
    """The patch's pixels under `light` (a target's ring_light): a gain per channel in linear
    light from the source's ring to the target's."""
    if light is None or patch.light is None:
        return patch.pixels
    gain = np.clip(light / patch.light, 1 / MAX_GAIN, MAX_GAIN).astype(np.float32)
    return np.clip(_srgb(_linear(patch.pixels) * gain[None, None, :]), 0, 255).astype(np.float32)


def _light_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    return float(np.abs(np.log(a / b)).mean())


@dataclass
class MouthBank:
    """Patches by band of opening (`bands[band]`: up to PER_BAND patches) and the running
    choice of the render."""

    bands: dict[int, list[Patch]] = field(default_factory=dict)
    indexed: bool = False  # filled from the whole video before rendering: no fade-in
    chosen: Patch | None = None
    previous: Patch | None = None  # the patch being crossfaded away from
    since_switch: int = CROSSFADE
    uses: int = 0
    shut: bool = True  # the last frame asked for was (nearly) shut
    seen: int = 0  # source frames observed
    light: np.ndarray | None = None  # running estimate of the target's light

    @property
    def patches(self) -> list[Patch]:
        return [p for band in sorted(self.bands) for p in self.bands[band]]

    def observe(self, frame_rgb: np.ndarray, mouth: MouthFrame) -> None:
        """Offer this source frame's interior: kept if its mouth is open and it is among the
        most open of its band (patches of one band at least RENEW frames apart)."""
        index = self.seen
        self.seen += 1
        gap = mouth.source_gap()
        if gap < MIN_GAP:
            return
        band = int(gap / BAND)
        kept = self.bands.setdefault(band, [])
        near = [p for p in kept if index - p.frame < RENEW]
        if near:
            # A neighbour in time: keep whichever is more open.
            if max(p.gap for p in near) >= gap:
                return
            for p in near:
                kept.remove(p)
        elif len(kept) >= PER_BAND:
            least = min(kept, key=lambda p: p.gap)
            if least.gap >= gap:
                return
            kept.remove(least)
        patch = cut_patch(frame_rgb, mouth, index)
        if interior_share(frame_rgb, mouth, patch) < MIN_INTERIOR:
            return
        kept.append(patch)
        if len(self.bands) > KEEP:
            del self.bands[min(self.bands)]  # the least open is the least useful

    def choose(self, target_gap: float, light: np.ndarray | None = None,
               reach: float | None = None) -> tuple[Patch, float] | None:
        """The interior to use for an opening of `target_gap` in a frame lit by `light` (its
        ring_light), brought to that light, and its weight. `reach`: the widest this opening
        of the dub gets (`opening_reach`); the patch is chosen for it, so it holds from the
        lips' parting to their meeting."""
        shut = target_gap < SHUT_GAP
        was_shut, self.shut = self.shut, shut
        if not self.bands or target_gap <= 0.0:
            return None
        if light is not None:
            self.light = light if self.light is None else \
                (1 - LIGHT_SMOOTHING) * self.light + LIGHT_SMOOTHING * light
        need = max(target_gap, reach or 0.0)
        fits = [p for p in self.patches if p.gap >= 0.6 * need]
        if not fits:
            return None

        def cost(p: Patch) -> float:
            return abs(p.gap - need) + LIGHT_COST * _light_distance(p.light, self.light)

        best = min(fits, key=lambda p: (cost(p), p.frame))
        # Hold the last choice while it still fits: a new patch every frame would flicker (where
        # the lips met, the best one is free to take over unseen).
        if not was_shut and self.chosen is not None and self.chosen.gap >= 0.6 * need \
                and cost(self.chosen) < cost(best) + HOLD_MARGIN:
            best = self.chosen
        if best is not self.chosen:
            self.previous, self.chosen, self.since_switch = self.chosen, best, 0
            if was_shut or shut:
                self.since_switch = CROSSFADE  # nothing of the old patch shows: no blend
        self.since_switch += 1
        self.uses += 1
        pixels, valid = _relit(best, self.light), best.valid
        if self.previous is not None and self.since_switch < CROSSFADE:
            w = np.float32(self.since_switch / CROSSFADE)
            pixels = _relit(self.previous, self.light) * (1 - w) + pixels * w
            valid = self.previous.valid * (1 - w) + valid * w
        weight = 1.0 if self.indexed else min(1.0, self.uses / FADE_IN)
        return Patch(best.gap, pixels, valid, self.light, best.frame), weight


def opening_reach(gaps: np.ndarray) -> np.ndarray:
    """For each frame of a dub's openings (target gaps at the middle, half mouth widths), the
    widest its opening gets: the largest gap between two frames where the lips (nearly) meet."""
    reach = np.zeros(len(gaps), np.float32)
    start = 0
    for end in range(len(gaps) + 1):
        if end == len(gaps) or gaps[end] < SHUT_GAP:
            if end > start:
                reach[start:end] = float(np.max(gaps[start:end]))
            start = end + 1
    return reach


def lay_patch(patch: Patch, s: np.ndarray, below_lip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours and validity of `patch` at points `s` across the mouth and `below_lip` (half
    mouth widths under the upper inner lip), 1-D arrays."""
    cols = ((s + 1.0) * 0.5 * (PATCH_WIDTH - 1)).astype(np.float32)
    rows = (below_lip / PATCH_DEPTH * (PATCH_ROWS - 1)).astype(np.float32)
    map_x, map_y = cols.reshape(-1, 1), rows.reshape(-1, 1)
    colours = cv2.remap(patch.pixels, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.remap(patch.valid, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=(0.0,))
    inside = (np.abs(s) <= 1.0) & (below_lip >= 0) & (below_lip <= PATCH_DEPTH)
    return colours.reshape(-1, 3), np.where(inside, valid.reshape(-1), 0.0).astype(np.float32)
