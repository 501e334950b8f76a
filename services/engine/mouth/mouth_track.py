"""From the mouth model's raw output to the per-frame shapes the renderer draws."""

from __future__ import annotations

import numpy as np

from services.engine.mouth.visemes import CLASS_SHAPES, Viseme
from services.engine.render.mouth_warp import MouthShapeFrame

REST = CLASS_SHAPES[Viseme.SILENCE]
# Probability of p/b/m or silence above which a frame is drawn with the lips pressed together.
# Chosen on the validation voice (`training.data.FESTIVAL_VALIDATION_VOICE`, never trained on):
# the most closures with the lips shut on at most a tenth of the wide-open frames
# (`validation_closure_by_threshold` in weights/mouth_shapes.json, 12 sentences, 81 p/b/m: 0.93
# closed at 0.25, 0.83 at 0.5, shut on 0.018 and 0.009 of the wide-open frames).
CLOSURE_PROBABILITY = 0.25


def shapes_for_render(shapes: np.ndarray, visemes: np.ndarray,
                      closure_probability: float = CLOSURE_PROBABILITY,
                      causal: bool = False) -> np.ndarray:
    """Smooth the model's (open, width, round) a little and shut the lips where it hears p/b/m
    or silence, so closures are crisp while the rest moves without jitter.

    `causal`: smooth with the previous frame only (a live stream cannot wait a frame for the
    next one: it would add 40 ms to a latency budget of 250)."""
    out = np.asarray(shapes, np.float32).copy()
    if causal and out.shape[0] >= 2:
        padded = np.pad(out, ((1, 0), (0, 0)), mode="edge")
        out = 0.25 * padded[:-1] + 0.75 * padded[1:]
    elif not causal and out.shape[0] >= 3:
        padded = np.pad(out, ((1, 1), (0, 0)), mode="edge")
        out = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    if visemes.size:
        closed = (visemes[:, Viseme.BILABIAL] + visemes[:, Viseme.SILENCE]) > closure_probability
        out[closed, 0] = 0.0
    return np.clip(out, 0.0, 1.0)


def rest_shapes(frames: int) -> np.ndarray:
    """A natural closed mouth for a face that is not speaking."""
    return np.tile(np.array(REST, np.float32), (frames, 1))


def frame_shape(shapes: np.ndarray, index: int) -> MouthShapeFrame:
    o, w, r = shapes[index]
    return MouthShapeFrame(float(o), float(w), float(r))
