"""A portrait drawn frame by frame as mouth shapes arrive: the live counterpart of
`renderer.render_image`.

The face is analysed once (`renderer.prepare_portrait`); each frame then costs one
`FaceAnimator.render` of the small blocks around the face. Blinks and the head's sway (its slow
rise and fall reads as breathing) come from `idle_motion`, as in an image render, computed for
the session's whole allowed length up front (cheap: a few sums of sines), so the face keeps
living between utterances whatever the audio does. The speech-driven nod of a render is left
out: it reads 6 frames of the future, which a live stream does not have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.engine.media import av_io as media
from services.engine.render.animator import HeadPose
from services.engine.render.expression import styled_shapes
from services.engine.render.idle_motion import blink_track, head_track
from services.engine.render.mouth_warp import MouthShapeFrame
from services.engine.render.renderer import Portrait, StageTimer, prepare_portrait
from services.engine.render.style import Style


class LiveFace:
    """One session's portrait; `draw(index, shape)` returns frame `index` (a new array)."""

    def __init__(self, portrait: Portrait, style: Style, seed: int, frames: int) -> None:
        rng = np.random.default_rng(seed)
        self.portrait = portrait
        self.style = style
        motion = 0.0 if style.still else style.expressiveness
        self._blinks = blink_track(frames, media.FPS, rng, style.blink_rate)
        self._poses = head_track(frames, media.FPS, rng, scale=motion)
        self._canvas = portrait.picture.copy()

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
        i = index % len(self._blinks)  # past the allowed length (never, in a session): wrap
        o, w, r = (float(v) for v in shape)
        self.portrait.animator.render(self.portrait.picture, self._canvas, MouthShapeFrame(o, w, r),
                                      float(self._blinks[i]), HeadPose(*self._poses[i]))
        return self._canvas.copy()
