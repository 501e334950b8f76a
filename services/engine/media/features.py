"""Audio features for the mouth model: resampling and log-mel spectrograms, in numpy only.

The runtime engine stays light (numpy + onnxruntime); training uses the very same functions, so the
model sees identical features in both places.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
from numpy.lib.stride_tricks import as_strided

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 64
MEL_FPS = SAMPLE_RATE // HOP  # 100
VIDEO_FPS = 25
F_MIN, F_MAX = 20.0, 8000.0
# Power floor just under 16-bit quantisation noise, so digital silence and dithered silence
# look alike to the model.
LOG_FLOOR = 1e-8

_BLOCK_IN = 1 << 20  # resample long audio in blocks to bound memory
_GUARD = 8192  # samples of context kept on each side of a block (edge ringing dies out)


def _next_fast_len(n: int) -> int:
    """Smallest 5-smooth integer >= n (numpy's FFT is fastest on those)."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _resample_fft(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Band-limited resampling of one block by up/down through the FFT (zero padded)."""
    k = _next_fast_len(-(-(len(x) + 64) // down))
    n_in, n_out = down * k, up * k
    spec = np.fft.rfft(x, n=n_in)
    keep = min(n_in, n_out) // 2 + 1
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    # Taper the top 4 % of the band: less ringing and aliasing than a brick wall.
    taper = max(keep // 25, 1)
    out_spec[keep - taper : keep] *= 0.5 * (1 + np.cos(np.linspace(0, np.pi, taper)))
    y = np.fft.irfft(out_spec, n=n_out) * (n_out / n_in)
    return y[: -(-len(x) * up // down)]


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono audio; output length is ceil(len * to_rate / from_rate)."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate or len(x) == 0:
        return x.copy()
    g = gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    if len(x) <= _BLOCK_IN:
        return _resample_fft(x, up, down).astype(np.float32)
    # Overlap-save over blocks that start on multiples of `down`, so output samples line up.
    block = max(_BLOCK_IN // down, 1) * down
    guard = -(-_GUARD // down) * down
    total = -(-len(x) * up // down)
    out = np.empty(total, dtype=np.float32)
    for start in range(0, len(x), block):
        lo, hi = max(start - guard, 0), min(start + block + guard, len(x))
        y = _resample_fft(x[lo:hi], up, down)
        a = (start - lo) * up // down
        o0 = start * up // down
        o1 = min((start + block) * up // down, total)
        out[o0:o1] = y[a : a + (o1 - o0)]
    return out


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """[N_FFT // 2 + 1, N_MELS] triangular filters, equally spaced on the mel scale."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(F_MIN)), _hz_to_mel(np.array(F_MAX)),
                                   N_MELS + 2))
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return fb.T.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """A periodic Hann of WIN samples, centred in N_FFT."""
    win = np.zeros(N_FFT, dtype=np.float32)
    off = (N_FFT - WIN) // 2
    win[off : off + WIN] = np.hanning(WIN + 1)[:-1]
    return win


def n_mel_frames(n_samples: int) -> int:
    return n_samples // HOP + 1


def log_mel(audio16k: np.ndarray) -> np.ndarray:
    """[T_mel, N_MELS] float32 log power, frame i centred at i * 10 ms (reflect padded)."""
    x = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    pad = N_FFT // 2
    # Reflection needs more samples than the pad; tiny inputs are zero padded instead.
    xp = np.pad(x, pad, mode="reflect") if len(x) > pad else np.pad(x, pad)
    xp = np.ascontiguousarray(xp)
    n = n_mel_frames(len(x))
    step = xp.strides[0]
    frames = as_strided(xp, shape=(n, N_FFT), strides=(HOP * step, step), writeable=False)
    spec = np.fft.rfft(frames * _window(), axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = power @ mel_filterbank()
    return np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)
