"""Waveform augmentation so a model trained on clean synthetic speech copes with real recordings:
noise (white, pink, babble), level, band limits (low-pass, telephone), and room reverberation.

All functions are pure numpy, take a seeded `np.random.Generator` and work at 16 kHz.
"""

from __future__ import annotations

import numpy as np

from services.engine.features import SAMPLE_RATE


def _power(x: np.ndarray) -> float:
    """Mean power of the louder half of 20 ms frames: speech power, not diluted by pauses."""
    n = len(x) // 320 * 320
    if n == 0:
        return float(np.mean(x**2)) if len(x) else 0.0
    frames = np.mean(x[:n].reshape(-1, 320) ** 2, axis=1)
    loud = np.sort(frames)[len(frames) // 2 :]
    return float(loud.mean())


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by shaping white noise in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n=n).astype(np.float32)


def babble(n: int, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A few other utterances, looped and shifted, summed: crowd-like speech noise."""
    out = np.zeros(n, dtype=np.float32)
    for other in others:
        if len(other) == 0:
            continue
        reps = -(-n // len(other)) + 1
        looped = np.tile(other, reps)
        shift = int(rng.integers(0, len(other)))
        out += looped[shift : shift + n]
    return out


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix noise in at a given speech-to-noise ratio."""
    ps, pn = _power(x), float(np.mean(noise**2))
    if ps <= 0 or pn <= 0:
        return x + noise * 1e-4
    gain = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    return (x + gain * noise).astype(np.float32)


def band_limit(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-pass with smooth (raised-cosine) edges an octave-fifth wide."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    gain = np.ones_like(f)
    if high_hz < SAMPLE_RATE / 2:
        hi = np.clip((f - high_hz) / (0.3 * high_hz), 0.0, 1.0)
        gain *= 0.5 * (1 + np.cos(np.pi * hi))
    if low_hz > 0:
        lo = np.clip((low_hz - f) / (0.5 * low_hz), 0.0, 1.0)
        gain *= 0.5 * (1 + np.cos(np.pi * lo))
    return np.fft.irfft(spec * gain, n=len(x)).astype(np.float32)


def reverb(x: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an exponentially decaying noise tail: a cheap synthetic room."""
    n = max(int(rt60_s * SAMPLE_RATE), 16)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail[0] = 0.0
    tail *= wet / max(np.sqrt(np.sum(tail**2)), 1e-9)
    ir = np.zeros(n)
    ir[0] = 1.0
    ir += tail
    size = len(x) + n - 1
    fft_n = 1 << (size - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, fft_n) * np.fft.rfft(ir, fft_n), fft_n)[: len(x)]
    return y.astype(np.float32)


def augment(x: np.ndarray, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One random chain of the above; about a fifth of the results stay clean."""
    y = np.asarray(x, dtype=np.float32)
    if rng.random() < 0.2:
        y = reverb(y, float(rng.uniform(0.15, 0.7)), float(rng.uniform(0.2, 0.8)), rng)
    r = rng.random()
    if r < 0.15:
        y = band_limit(y, 300.0, 3400.0)  # telephone
    elif r < 0.4:
        y = band_limit(y, 0.0, float(rng.uniform(2500.0, 7000.0)))
    r = rng.random()
    if r < 0.25:
        y = add_noise(y, white_noise(len(y), rng), float(rng.uniform(5.0, 40.0)))
    elif r < 0.5:
        y = add_noise(y, pink_noise(len(y), rng), float(rng.uniform(5.0, 40.0)))
    elif r < 0.7 and others:
        y = add_noise(y, babble(len(y), others, rng), float(rng.uniform(8.0, 25.0)))
    if rng.random() < 0.8:
        y = y * np.float32(10 ** (rng.uniform(-30.0, 6.0) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
