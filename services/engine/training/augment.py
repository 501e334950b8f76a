"""Waveform augmentation so a model trained on clean synthetic speech copes with real recordings:
noise (white, pink, babble, music), level, clipping, band limits (low-pass, telephone), room
reverberation, and lossy codecs (MP3, AAC, Opus at low bit rates).

All functions take a seeded `np.random.Generator` and work at 16 kHz; all but `codec` are numpy.
"""

from __future__ import annotations

import io

import av
import numpy as np

from services.engine.media.features import SAMPLE_RATE


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


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Background music: chords of harmonic tones on a beat, with a kick drum."""
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n, np.float32)
    beat = float(rng.uniform(0.35, 0.7))
    root = float(rng.uniform(110.0, 220.0))
    for start in np.arange(0.0, n / SAMPLE_RATE, beat * 4):
        chord = root * 2 ** (rng.choice((0, 3, 4, 5, 7, 9), size=3, replace=False) / 12)
        a, b = int(start * SAMPLE_RATE), min(int((start + beat * 4) * SAMPLE_RATE), n)
        seg = t[a:b] - start
        env = np.exp(-seg * float(rng.uniform(0.3, 2.0)))
        for f0 in chord:
            for h in (1, 2, 3):
                out[a:b] += (env * np.sin(2 * np.pi * f0 * h * seg) / h).astype(np.float32)
    kick = np.exp(-np.arange(int(0.12 * SAMPLE_RATE)) / 400.0) * np.sin(
        2 * np.pi * 60 * np.arange(int(0.12 * SAMPLE_RATE)) / SAMPLE_RATE)
    for start in np.arange(0.0, n / SAMPLE_RATE, beat):
        a = int(start * SAMPLE_RATE)
        b = min(a + len(kick), n)
        out[a:b] += 2.0 * kick[: b - a].astype(np.float32)
    return out


def clip(x: np.ndarray, overdrive_db: float) -> np.ndarray:
    """A recording made too loud: gain past full scale, then hard clipping."""
    peak = float(np.abs(x).max(initial=0.0))
    if peak <= 0:
        return x
    return np.clip(x / peak * 10 ** (overdrive_db / 20), -1.0, 1.0).astype(np.float32)


_CODECS = {"mp3": ("mp3", "libmp3lame"), "aac": ("adts", "aac"), "opus": ("ogg", "libopus")}


def codec(x: np.ndarray, name: str, bitrate: int) -> np.ndarray:
    """Round trip through a lossy codec (PyAV's FFmpeg) at `bitrate` bits/s, 16 kHz mono."""
    container, encoder = _CODECS[name]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=SAMPLE_RATE)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        pcm = np.clip(x, -1, 1).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for decoded in inp.decode(audio=0):
            for r in resampler.resample(decoded):
                chunks.append(r.to_ndarray().reshape(-1))
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    out_x = np.zeros(len(x), np.float32)
    # Encoders add a priming delay; line the decoded audio up with the input by correlation.
    lag = _delay(x, y)
    piece = y[lag : lag + len(x)]
    out_x[: len(piece)] = piece
    return out_x


def _delay(x: np.ndarray, y: np.ndarray, max_lag: int = 4096) -> int:
    n = min(len(x), len(y) - max_lag, 32000)
    if n <= 0:
        return 0
    scores = [float(np.dot(x[:n], y[k : k + n])) for k in range(0, max_lag, 8)]
    coarse = int(np.argmax(scores)) * 8
    fine = range(max(coarse - 8, 0), coarse + 9)
    return max(fine, key=lambda k: float(np.dot(x[:n], y[k : k + n])))


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
    elif r < 0.65 and others:
        y = add_noise(y, babble(len(y), others, rng), float(rng.uniform(8.0, 25.0)))
    elif r < 0.8:
        y = add_noise(y, music(len(y), rng), float(rng.uniform(8.0, 25.0)))
    if rng.random() < 0.2:
        name = str(rng.choice(list(_CODECS)))
        y = codec(y, name, int(rng.choice((16000, 24000, 32000, 48000))))
    if rng.random() < 0.1:
        y = clip(y, float(rng.uniform(3.0, 15.0)))
    if rng.random() < 0.8:
        y = y * np.float32(10 ** (rng.uniform(-30.0, 6.0) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
