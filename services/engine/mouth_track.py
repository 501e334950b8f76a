"""From the mouth model's raw output to the per-frame shapes the renderer draws."""

from __future__ import annotations

import numpy as np

from services.engine.mouth_warp import MouthShapeFrame
from services.engine.visemes import CLASS_SHAPES, Viseme

REST = CLASS_SHAPES[Viseme.SILENCE]
# Probability above which a frame is drawn with the lips pressed together.
CLOSURE_PROBABILITY = 0.5


def shapes_for_render(shapes: np.ndarray, visemes: np.ndarray) -> np.ndarray:
    """Smooth the model's (open, width, round) a little and shut the lips where it hears p/b/m
    or silence, so closures are crisp while the rest moves without jitter."""
    out = np.asarray(shapes, np.float32).copy()
    if out.shape[0] >= 3:
        padded = np.pad(out, ((1, 1), (0, 0)), mode="edge")
        out = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    if visemes.size:
        closed = (visemes[:, Viseme.BILABIAL] + visemes[:, Viseme.SILENCE]) > CLOSURE_PROBABILITY
        out[closed, 0] = 0.0
    return np.clip(out, 0.0, 1.0)


def rest_shapes(frames: int) -> np.ndarray:
    """A natural closed mouth for a face that is not speaking."""
    return np.tile(np.array(REST, np.float32), (frames, 1))


def frame_shape(shapes: np.ndarray, index: int) -> MouthShapeFrame:
    o, w, r = shapes[index]
    return MouthShapeFrame(float(o), float(w), float(r))
