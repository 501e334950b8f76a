"""Mouth shapes computed on the event loop before a render, when the model runs on Triton.

The engine renders in a worker thread and asks its `ShapeSource` for the shapes of each speech
track it loads. In-process, that source runs ONNX Runtime right there. With a model server, the
pipeline instead loads the same speech first, sends every window of the job to the server at once
(one request per `max_batch_size` windows, awaited together), and hands the render a source that
answers from those results. The render thread never waits on the network, and a server outage
shows before any frame is drawn.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from services.core.settings import Settings
from services.engine.media import av_io as media
from services.engine.media import features
from services.engine.mouth.mouth_model import feature_windows
from services.engine.mouth.mouth_track import rest_shapes, shapes_for_render
from services.inference.forms import INPUTS, RenderForm


class AsyncMouthModel(Protocol):
    """`InferenceBackend.infer`, awaited (the Triton backend). `infer` raises
    `ModelServerUnavailable` when the server does not answer."""

    async def infer(self, feature_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


def remote_model(settings: Settings) -> AsyncMouthModel | None:
    """The model server the settings name, or None to run the models in-process."""
    if not settings.triton_url:
        return None
    from services.inference.backends.triton import TritonMouthModel

    return TritonMouthModel(settings.triton_url)


class PrecomputedShapes:
    """A `ShapeSource` answering from shapes computed beforehand for known speech tracks."""

    def __init__(self) -> None:
        self._shapes: dict[str, np.ndarray] = {}

    def add(self, speech48k: np.ndarray, shapes: np.ndarray) -> None:
        self._shapes[_digest(speech48k)] = shapes

    def __call__(self, speech48k: np.ndarray, frames: int) -> np.ndarray:
        shapes = self._shapes.get(_digest(speech48k))
        if shapes is None:
            # The render loaded speech the pipeline did not: a bug, not the caller's input.
            raise LookupError("no mouth shapes were computed for this speech")
        if len(shapes) >= frames:
            return shapes[:frames]
        return np.concatenate([shapes, rest_shapes(frames - len(shapes))])

    def __len__(self) -> int:
        return len(self._shapes)


async def speech_shapes(model: AsyncMouthModel, speech48k: np.ndarray) -> np.ndarray:
    """Render-ready shapes (frames x [open, width, round]) for 48 kHz speech, as the engine's
    `render.model_shapes` computes them in-process."""
    audio16k = await asyncio.to_thread(features.resample, speech48k, media.OUTPUT_AUDIO_RATE,
                                       features.SAMPLE_RATE)
    windows = await asyncio.to_thread(feature_windows, audio16k, features.SAMPLE_RATE)
    parts = await asyncio.gather(*(model.infer(chunk) for chunk in windows.chunks()))
    track = windows.track(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return shapes_for_render(track.shapes, track.visemes)


async def precompute(model: AsyncMouthModel, form: RenderForm, paths: dict[str, Path],
                     limits: media.Limits) -> PrecomputedShapes:
    """Shapes for every speech track of the form, loaded exactly as the render loads them."""
    source = PrecomputedShapes()
    fields = [name for name, kind, _ in INPUTS[form.model] if kind == "audio" and name in paths]
    tracks = await asyncio.gather(*(asyncio.to_thread(media.load_audio, paths[name],
                                                      media.OUTPUT_AUDIO_RATE, limits)
                                    for name in fields))
    spoken = [t for t in tracks if not media.is_silent(t)]  # the render refuses silence itself
    results = await asyncio.gather(*(speech_shapes(model, speech) for speech in spoken))
    for speech, shapes in zip(spoken, results, strict=True):
        source.add(speech, shapes)
    return source


def _digest(audio: np.ndarray) -> str:
    # Keys by content, so the render's own decode of the same file finds its shapes.
    data = np.ascontiguousarray(audio)
    return f"{data.dtype}{data.shape}" + hashlib.blake2b(data.data.cast("B"), digest_size=16).hexdigest()
