"""Audio features as Wav2Lip-class generators are trained on, in numpy only.

The published training recipe: 16 kHz speech, pre-emphasis 0.97, an STFT of 800 samples
(Hann, 50 ms) every 200 samples (12.5 ms, so 80 frames a second), magnitudes through 80 Slaney
mel filters between 55 and 7600 Hz, decibels less a 20 dB reference, mapped from [-100, 0] dB
onto [-4, 4]. A video frame sees 16 mel frames (200 ms) cut as the training code cuts them:
starting two video frames earlier, so the window is centred on the frame.

These numbers are the checkpoint's contract, not a choice: a generator trained on other
features needs this module changed to match.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

SAMPLE_RATE = 16_000
N_FFT = 800
HOP = 200
N_MELS = 80
F_MIN, F_MAX = 55.0, 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0  # features lie in [-MAX_ABS, MAX_ABS]; -MAX_ABS is silence
MEL_FPS = SAMPLE_RATE // HOP  # 80
WINDOW = 16  # mel frames a video frame sees
LEAD_FRAMES = 2  # a window starts this many video frames before its frame
_BLOCK = 4096  # STFT frames per block (bounds memory on long audio)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear to 1 kHz (3 mel per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """[N_MELS, N_FFT // 2 + 1] triangles equally spaced in Slaney mels, each scaled to unit
    area (2 / bandwidth in Hz), as the training recipe's filters are."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(F_MIN)), _hz_to_mel(np.array(F_MAX)),
                                   N_MELS + 2))
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (upper - lower))
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann


def n_frames(n_samples: int) -> int:
    return n_samples // HOP + 1


def mel_spectrogram(audio16k: np.ndarray) -> np.ndarray:
    """[N_MELS, T] float32 in [-4, 4]; frame t is centred at t * 12.5 ms (reflect padded)."""
    x = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    emphasised = np.empty_like(x)
    emphasised[:1] = x[:1]
    emphasised[1:] = x[1:] - PREEMPHASIS * x[:-1]
    pad = N_FFT // 2
    # Reflection needs more samples than the pad; tiny inputs are zero padded instead.
    padded = np.pad(emphasised, pad, mode="reflect" if len(x) > pad else "constant")
    padded = np.ascontiguousarray(padded)
    count = n_frames(len(x))
    step = padded.strides[0]
    frames = as_strided(padded, shape=(count, N_FFT), strides=(HOP * step, step), writeable=False)
    out = np.empty((count, N_MELS), np.float32)
    bank = mel_filterbank().T
    for start in range(0, count, _BLOCK):
        magnitude = np.abs(np.fft.rfft(frames[start:start + _BLOCK] * _window(), axis=1))
        out[start:start + _BLOCK] = magnitude.astype(np.float32) @ bank
    db = 20.0 * np.log10(np.maximum(out, 1e-5)) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS
    return np.clip(scaled, -MAX_ABS, MAX_ABS).T.astype(np.float32)


def window_start(frame: int, fps: float) -> int:
    """First mel frame of video frame `frame`'s window (may be negative near the start)."""
    return int(np.floor(MEL_FPS * (frame - LEAD_FRAMES) / fps))


def frame_windows(mel: np.ndarray, count: int, fps: float = 25.0) -> np.ndarray:
    """[count, 1, N_MELS, WINDOW]: each video frame's mel window; beyond the audio, silence."""
    starts = np.array([window_start(i, fps) for i in range(count)], dtype=np.int64)
    before = max(0, -int(starts.min(initial=0)))
    after = max(0, int(starts.max(initial=0)) + WINDOW - mel.shape[1])
    padded = np.pad(mel, ((0, 0), (before, after)), constant_values=-MAX_ABS)
    index = starts[:, None] + before + np.arange(WINDOW)[None, :]
    return np.ascontiguousarray(padded[:, index].transpose(1, 0, 2)[:, None])
