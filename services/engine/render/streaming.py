"""A portrait drawn frame by frame as mouth shapes arrive: the live counterpart of
`renderer.render_image`.

The face is analysed once (`renderer.prepare_portrait`); each frame then costs one
`FaceAnimator.render` of the small blocks around the face. A live stream wants the frame in
I420 (what VP8 encodes): `draw_i420` converts only the block the animator may have drawn (head,
mouth and eyes, on even pixels so the 2x2 colour samples fall the same) into a copy of the still
picture converted once, which is exactly the whole frame converted (cv2's BT.601 conversion
works 2x2 pixels at a time), at a fifth of the cost. Blinks and the head's sway (its slow
rise and fall reads as breathing) come from `idle_motion`, as in an image render, computed for
the session's whole allowed length up front (cheap: a few sums of sines), so the face keeps
living between utterances whatever the audio does. The speech-driven nod of a render is left
out: it reads 6 frames of the future, which a live stream does not have.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.engine.media import av_io as media
from services.engine.render.animator import HeadPose
from services.engine.render.expression import styled_shapes
from services.engine.render.idle_motion import blink_track, head_track
from services.engine.render.mouth_warp import MouthShapeFrame
from services.engine.render.renderer import Portrait, StageTimer, prepare_portrait
from services.engine.render.style import Style

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


class LiveFace:
    """One session's portrait; `draw(index, shape)` returns frame `index` (a new RGB array),
    `draw_i420(index, shape)` the same frame as I420 (in a buffer the face keeps and reuses)."""

    def __init__(self, portrait: Portrait, style: Style, seed: int, frames: int) -> None:
        rng = np.random.default_rng(seed)
        self.portrait = portrait
        self.style = style
        motion = 0.0 if style.still else style.expressiveness
        self._blinks = blink_track(frames, media.FPS, rng, style.blink_rate)
        self._poses = head_track(frames, media.FPS, rng, scale=motion)
        self._canvas = portrait.picture.copy()
        self._block = _drawn_block(portrait)
        self._i420: np.ndarray | None = None  # the picture in I420; the block is redrawn per frame

    @classmethod
    def from_image(cls, image: str | Path, resolution: str, style: Style, seed: int, frames: int,
                   limits: media.Limits = media.DEFAULT_LIMITS,
                   stages: StageTimer | None = None) -> LiveFace:
        return cls(prepare_portrait(image, resolution, style, limits=limits, stages=stages),
                   style, seed, frames)

    @property
    def size(self) -> tuple[int, int]:
        return self.portrait.size

    def styled(self, shape: np.ndarray) -> np.ndarray:
        """The model's (open, width, round) in this session's style."""
        return styled_shapes(np.asarray(shape, np.float32)[None], self.style.expressiveness,
                             self.portrait.open_gain)[0]

    def draw(self, index: int, shape: np.ndarray) -> np.ndarray:
        """Frame `index` with mouth `shape` (already `styled`); RGB, owned by the caller."""
        self._render(index, shape)
        return self._canvas.copy()

    def draw_i420(self, index: int, shape: np.ndarray) -> np.ndarray:
        """Frame `index` as planar I420 ([h * 3 / 2, w]: Y, then U, then V), as
        `cv2.cvtColor(draw(index, shape), cv2.COLOR_RGB2YUV_I420)` gives. The array is the
        face's own and is overwritten by the next draw: encode (or copy) it before then."""
        self._render(index, shape)
        height, width = self._canvas.shape[:2]
        if self._i420 is None:
            self._i420 = np.asarray(cv2.cvtColor(self.portrait.picture, cv2.COLOR_RGB2YUV_I420), np.uint8)
        x0, y0, x1, y1 = self._block
        if x1 <= x0 or y1 <= y0:
            return self._i420
        block = cv2.cvtColor(np.ascontiguousarray(self._canvas[y0:y1, x0:x1]), cv2.COLOR_RGB2YUV_I420)
        bh, bw = y1 - y0, x1 - x0
        y_plane, u_plane, v_plane = _planes(self._i420, height, width)
        by, bu, bv = _planes(block, bh, bw)
        y_plane[y0:y1, x0:x1] = by
        u_plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = bu
        v_plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = bv
        return self._i420

    def _render(self, index: int, shape: np.ndarray) -> None:
        i = index % len(self._blinks)  # past the allowed length (never, in a session): wrap
        o, w, r = (float(v) for v in shape)
        self.portrait.animator.render(self.portrait.picture, self._canvas, MouthShapeFrame(o, w, r),
                                      float(self._blinks[i]), HeadPose(*self._poses[i]))


def _drawn_block(portrait: Portrait) -> Box:
    """The one block holding every pixel `FaceAnimator.render` may write (the head, which
    holds the mouth and eyes once the head moves, and those on their own while it is still),
    widened to even coordinates and kept inside the picture."""
    animator = portrait.animator
    boxes = [animator.head_box, animator.mouth_box, *animator.eye_boxes]
    height, width = portrait.picture.shape[:2]
    x0 = max(min(b[0] for b in boxes), 0) // 2 * 2
    y0 = max(min(b[1] for b in boxes), 0) // 2 * 2
    x1 = min(-(-max(b[2] for b in boxes) // 2) * 2, width)
    y1 = min(-(-max(b[3] for b in boxes) // 2) * 2, height)
    return x0, y0, x1, y1


def _planes(i420: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of an I420 array's Y [h, w], U and V [h / 2, w / 2] planes."""
    quarter = height * width // 4
    chroma = i420[height:].reshape(-1)
    return (i420[:height], chroma[:quarter].reshape(height // 2, width // 2),
            chroma[quarter:].reshape(height // 2, width // 2))
