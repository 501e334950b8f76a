"""Audio -> mouth shapes at video rate, through an exported model behind `InferenceBackend`.

Audio of any length is resampled to 16 kHz, turned into phonetic feature frames
(`phone_posteriors`: phone posteriors from an acoustic model of real speech, 100 fps), cut into
fixed windows that overlap by enough context for the convolutions, run as one batch (fixed
window length so a server can batch across requests), and stitched back. An output frame depends
on 32 frames of the past and 16 of the future (`net.receptive_field`, `LOOKAHEAD_SHIFT`), so with
`CONTEXT` frames of context the stitched result equals a single whole-sequence run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from services.engine.engine_errors import MediaError, SilentAudio
from services.engine.media import features
from services.engine.media.features import HOP, VIDEO_FPS
from services.engine.mouth import phone_posteriors

FEATURES_PER_FRAME = features.MEL_FPS // VIDEO_FPS  # 4
CORE = 800  # feature frames each window contributes (8 s)
CONTEXT = 32  # feature frames of context either side (>= the past the model sees, 32)
WINDOW = CORE + 2 * CONTEXT
MAX_BATCH = 32  # windows per backend call (Triton's max_batch_size)
_SILENT = 1e-6  # peak amplitude below which audio holds no sound


class InferenceBackend(Protocol):
    def infer(self, feature_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features [B, T, 45] (T a multiple of 4) -> (shapes [B, T/4, 3], viseme logits
        [B, T/4, V])."""
        ...


@dataclass
class MouthTrack:
    """Mouth shapes per video frame: (open, width, round) and viseme probabilities."""

    shapes: np.ndarray  # [T, 3] in [0, 1]
    visemes: np.ndarray  # [T, V], rows sum to 1
    fps: int = VIDEO_FPS

    @property
    def openness(self) -> np.ndarray:
        return self.shapes[:, 0]

    def __len__(self) -> int:
        return len(self.shapes)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """float32 mono in [-1, 1] from 1-D or [samples, channels] audio, float or integer PCM."""
    x = np.asarray(audio)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= x.shape[0] else x.mean(axis=0)
    elif x.ndim != 1:
        raise MediaError(f"audio must be 1-D or [samples, channels], got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise MediaError("audio holds NaN or infinite samples")
    return x


def window_starts(n_steps: int) -> list[int]:
    """Start of each window over `n_steps` (a multiple of 4) frames: core k begins at k * CORE."""
    if n_steps <= WINDOW:
        return [0]
    count = -(-n_steps // CORE)
    return [min(max(k * CORE - CONTEXT, 0), n_steps - WINDOW) for k in range(count)]


@dataclass
class FeatureWindows:
    """One audio's model input, and how to turn the model's outputs back into a `MouthTrack`.

    Split from `MouthModel.predict` so a caller with its own way to run the model (an async
    Triton client) windows and stitches exactly as the in-process path does.
    """

    batch: np.ndarray  # [W, T, 45]: the windows (one window of any length when unchunked)
    starts: list[int]  # first feature frame of each window
    n_steps: int  # feature frames of the whole audio (a multiple of 4)
    n_frames: int  # video frames the audio lasts

    def chunks(self, size: int = MAX_BATCH) -> list[np.ndarray]:
        """The windows in backend calls of at most `size` (a server's max_batch_size)."""
        return [self.batch[i : i + size] for i in range(0, len(self.batch), size)]

    def track(self, shapes: np.ndarray, logits: np.ndarray) -> MouthTrack:
        """The outputs of every window, in order (chunks concatenated) -> the audio's track."""
        if len(self.starts) == 1:
            s, v = shapes[0], logits[0]
        else:
            s, v = self._stitch(shapes, logits)
        return MouthTrack(_fit(s, self.n_frames), softmax(_fit(v, self.n_frames)))

    def _stitch(self, shapes: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_out = self.n_steps // FEATURES_PER_FRAME
        out_s = np.empty((n_out, shapes.shape[2]), np.float32)
        out_v = np.empty((n_out, logits.shape[2]), np.float32)
        for k, start in enumerate(self.starts):
            lo = k * CORE // FEATURES_PER_FRAME
            hi = min((k + 1) * CORE, self.n_steps) // FEATURES_PER_FRAME
            off = lo - start // FEATURES_PER_FRAME
            out_s[lo:hi] = shapes[k, off : off + hi - lo]
            out_v[lo:hi] = logits[k, off : off + hi - lo]
        return out_s, out_v


def feature_windows(audio: np.ndarray, sample_rate: int, chunked: bool = True) -> FeatureWindows:
    """T = round(duration * 25) frames; frame t describes time (t + 0.5) / 25 s.

    `chunked=False` makes one window of the whole sequence (for tests and short clips).
    """
    x = to_mono(audio)
    if sample_rate <= 0:
        raise MediaError(f"invalid sample rate {sample_rate}")
    if len(x) == 0 or float(np.abs(x).max()) < _SILENT:
        raise SilentAudio("the audio is empty or silent: nothing to lip-sync")
    n_frames = round(len(x) / sample_rate * VIDEO_FPS)
    steps = phonetic_frames(features.resample(x, sample_rate, features.SAMPLE_RATE))
    starts = window_starts(len(steps)) if chunked else [0]
    batch = steps[None] if len(starts) == 1 else np.stack([steps[s : s + WINDOW] for s in starts])
    return FeatureWindows(batch, starts, len(steps), n_frames)


def phonetic_frames(audio16k: np.ndarray) -> np.ndarray:
    """The model's input for 16 kHz audio, zero padded to a whole number of video frames."""
    n = phone_posteriors.n_frames(len(audio16k))
    short = -n % FEATURES_PER_FRAME
    padded = np.concatenate([audio16k, np.zeros(short * HOP, np.float32)]) if short else audio16k
    return phone_posteriors.phonetic_features(padded)


class MouthModel:
    """Predicts a `MouthTrack` for audio; `backend` defaults to ONNX Runtime over `path`."""

    def __init__(self, path: str | Path | None = None, threads: int = 1,
                 backend: InferenceBackend | None = None) -> None:
        if backend is None:
            from services.engine.mouth.onnx_backend import OnnxBackend

            backend = OnnxBackend(path, threads=threads)
        self.backend = backend

    def predict(self, audio: np.ndarray, sample_rate: int, chunked: bool = True) -> MouthTrack:
        """See `feature_windows`; all windows run in as few backend calls as `MAX_BATCH` allows."""
        windows = feature_windows(audio, sample_rate, chunked)
        parts = [self.backend.infer(chunk) for chunk in windows.chunks()]
        return windows.track(np.concatenate([p[0] for p in parts]),
                             np.concatenate([p[1] for p in parts]))


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad the model's frames to exactly `n`."""
    if len(x) >= n:
        return np.ascontiguousarray(x[:n], dtype=np.float32)
    pad = np.repeat(x[-1:], n - len(x), axis=0) if len(x) else np.zeros((n, x.shape[1]))
    return np.concatenate([x, pad]).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
