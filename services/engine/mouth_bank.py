"""The speaker's own mouth interiors, kept from a dubbed video's frames (Video Rewrite's idea).

While a video is dubbed, every source frame whose mouth is open lends its interior: the pixels
below its upper inner lip, sampled in the mouth-local frame (across the mouth, and down from the
upper lip in half mouth widths, not stretched) into a small patch, indexed by how open the
mouth was. A new frame that needs an opening takes the patch of the most similar opening and
lays it under its own upper lip, so the teeth are the speaker's real teeth, at their real size,
hanging from the upper lip; where the patch ends (a wider opening than any seen) the painted
interior shows. The choice sticks while it fits (no flicker), and the first use fades in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from services.engine.mouth_warp import MouthFrame

PATCH_WIDTH = 96  # samples across s in [-1, 1]
PATCH_DEPTH = 0.8  # half mouth widths below the upper inner lip
PATCH_ROWS = 40
MIN_GAP = 0.18  # a source opening worth keeping (half mouth widths)
KEEP = 12  # patches kept, one per opening band
BAND = 0.05  # width of an opening band
FADE_IN = 12  # frames over which reuse fades in
RENEW = 25  # frames before a band's patch may be replaced


@dataclass
class Patch:
    gap: float  # the source's opening at the middle, half mouth widths
    pixels: np.ndarray  # PATCH_ROWS x PATCH_WIDTH x 3 float32
    valid: np.ndarray  # PATCH_ROWS x PATCH_WIDTH float32: 1 inside the source's opening


@dataclass
class MouthBank:
    patches: dict[int, Patch] = field(default_factory=dict)
    chosen: Patch | None = None
    uses: int = 0
    seen: int = 0  # source frames observed
    taken: dict[int, int] = field(default_factory=dict)  # band -> frame its patch came from

    def observe(self, frame_rgb: np.ndarray, mouth: MouthFrame) -> None:
        """Keep this source frame's interior if its mouth is open (a band's patch is renewed
        once a second at most, which follows slow changes of light at little cost)."""
        self.seen += 1
        gap = mouth.source_gap()
        band = int(gap / BAND)
        if gap < MIN_GAP or self.seen - self.taken.get(band, -RENEW) < RENEW:
            return
        self.taken[band] = self.seen
        s = np.linspace(-1.0, 1.0, PATCH_WIDTH, dtype=np.float32)
        depth = np.linspace(0.0, PATCH_DEPTH, PATCH_ROWS, dtype=np.float32)
        upper = np.interp(s, mouth.upper_s, mouth.upper_t).astype(np.float32)
        lower = np.interp(s, mouth.lower_s, mouth.lower_t).astype(np.float32)
        ss = np.broadcast_to(s[None, :], (PATCH_ROWS, PATCH_WIDTH))
        tt = upper[None, :] + depth[:, None]
        xs, ys = mouth.to_image(ss, tt)
        pixels = cv2.remap(frame_rgb, xs.astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        # Inside the opening, fading out a pixel or two before the lower lip.
        px = mouth.half_width
        valid = np.clip((lower[None, :] - tt) * px / 2.0, 0, 1).astype(np.float32)
        self.patches[band] = Patch(gap, pixels, valid)
        if len(self.patches) > KEEP:
            del self.patches[min(self.patches)]  # the least open is the least useful

    def choose(self, target_gap: float) -> tuple[Patch, float] | None:
        """The patch to use for an opening of `target_gap`, and its weight (fading in)."""
        if not self.patches or target_gap <= 0.0:
            return None
        fits = [p for p in self.patches.values() if p.gap >= 0.6 * target_gap]
        if not fits:
            return None
        best = min(fits, key=lambda p: abs(p.gap - target_gap))
        # Stick with the last choice while it still fits: a new patch every frame would flicker.
        if self.chosen is not None and self.chosen.gap >= 0.6 * target_gap \
                and abs(self.chosen.gap - target_gap) < abs(best.gap - target_gap) + 0.1:
            best = self.chosen
        self.chosen = best
        self.uses += 1
        return best, min(1.0, self.uses / FADE_IN)


def lay_patch(patch: Patch, s: np.ndarray, below_lip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours and validity of `patch` at points `s` across the mouth and `below_lip` (half
    mouth widths under the upper inner lip), 1-D arrays."""
    cols = ((s + 1.0) * 0.5 * (PATCH_WIDTH - 1)).astype(np.float32)
    rows = (below_lip / PATCH_DEPTH * (PATCH_ROWS - 1)).astype(np.float32)
    map_x, map_y = cols.reshape(-1, 1), rows.reshape(-1, 1)
    colours = cv2.remap(patch.pixels, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.remap(patch.valid, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=(0.0,))
    inside = (np.abs(s) <= 1.0) & (below_lip >= 0) & (below_lip <= PATCH_DEPTH)
    return colours.reshape(-1, 3), np.where(inside, valid.reshape(-1), 0.0).astype(np.float32)
