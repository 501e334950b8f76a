"""What real uploads carry, applied to the sync benchmark's held-out speech (issue 10): noise and
music at 10-20 dB SNR, reverb, phone-band audio, other sample rates, lossy codecs, very quiet and
clipped recordings.

Written apart from the training augmentation (`training/augment.py`) on purpose: the benchmark
must not share its conditions' code, nor their bugs, with what the model trains on. The phoneme
truth is not touched: every condition keeps the speech where it was (codecs are decoded by the
renderer itself, as an upload would be; their priming delay is a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from services.engine.media import features
from services.engine.media.speech import save_wav

Audio = tuple[np.ndarray, int]  # float32 mono in [-1, 1], sample rate


def _speech_power(x: np.ndarray, rate: int) -> float:
    """Mean power over the 20 ms frames within 30 dB of the loudest: speech, not its pauses."""
    hop = max(rate // 50, 1)
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    power = (frames.astype(np.float64) ** 2).mean(axis=1)
    if not len(power) or power.max() <= 0:
        return 0.0
    return float(power[power > power.max() * 1e-3].mean())


def _mix(x: np.ndarray, rate: int, noise: np.ndarray, snr_db: float) -> np.ndarray:
    gain = np.sqrt(_speech_power(x, rate) / max(float(np.mean(noise**2)), 1e-12)
                   / 10 ** (snr_db / 10))
    y = x + gain * noise
    return (y / max(1.0, float(np.abs(y).max()) / 0.99)).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))  # 1/f power
    return np.fft.irfft(spec, n).astype(np.float32)


def music(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A plucked chord every half second and a kick on the beat: tonal, rhythmic, wide-band."""
    t = np.arange(n) / rate
    out = np.zeros(n, np.float64)
    beat = int(0.5 * rate)
    roots = rng.choice([110.0, 130.8, 146.8, 164.8, 196.0], size=n // beat + 1)
    for k, start in enumerate(range(0, n, beat)):
        seg = t[start : start + beat] - t[start]
        env = np.exp(-seg * 6.0)
        for ratio in (1.0, 1.26, 1.5, 2.0):  # a major chord and its octave
            for h in range(1, 6):
                out[start : start + beat] += env * np.sin(2 * np.pi * roots[k] * ratio * h * seg) / h
        out[start : start + beat] += 2.0 * np.exp(-seg * 30.0) * np.sin(2 * np.pi * 55.0 * seg)
    return out.astype(np.float32)


def reverb(x: np.ndarray, rate: int, rng: np.random.Generator, rt60: float = 0.6) -> np.ndarray:
    """A room: the direct sound, then exponentially decaying diffuse reflections (RT60 `rt60`)."""
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.08  # -60 dB at rt60
    ir[: int(0.005 * rate)] = 0.0  # first reflections after 5 ms
    ir[0] = 1.0
    y = np.fft.irfft(np.fft.rfft(x, len(x) + n) * np.fft.rfft(ir, len(x) + n))[: len(x)]
    return (y / max(1.0, float(np.abs(y).max()) / 0.99)).astype(np.float32)


def band(x: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / rate)
    spec[(f < low) | (f > high)] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def _phone(x: np.ndarray, rate: int, rng: np.random.Generator) -> Audio:
    narrow = features.resample(band(x, rate, 300.0, 3400.0), rate, 8000)
    return _mix(narrow, 8000, pink_noise(len(narrow), rng), 30.0), 8000


def _clipped(x: np.ndarray, rate: int, rng: np.random.Generator) -> Audio:
    peak = max(float(np.abs(x).max()), 1e-9)
    return np.clip(x / peak * 10.0, -1.0, 1.0).astype(np.float32), rate  # 20 dB over full scale


def _quiet(x: np.ndarray, rate: int, rng: np.random.Generator) -> Audio:
    peak = max(float(np.abs(x).max()), 1e-9)
    return (x / peak * 10 ** (-40 / 20)).astype(np.float32), rate  # peaks at -40 dBFS


CONDITIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], Audio]] = {
    "clean": lambda x, r, rng: (x, r),
    "noise-10db": lambda x, r, rng: (_mix(x, r, pink_noise(len(x), rng), 10.0), r),
    "noise-20db": lambda x, r, rng: (_mix(x, r, pink_noise(len(x), rng), 20.0), r),
    "music-15db": lambda x, r, rng: (_mix(x, r, music(len(x), r, rng), 15.0), r),
    "reverb": lambda x, r, rng: (reverb(x, r, rng), r),
    "phone": _phone,
    "8khz": lambda x, r, rng: (features.resample(x, r, 8000), 8000),
    "48khz": lambda x, r, rng: (features.resample(x, r, 48000), 48000),
    "quiet": _quiet,
    "clipped": _clipped,
    # Encoded files: the renderer decodes them, as it would an upload.
    "mp3-32k": lambda x, r, rng: (x, r),
    "opus-24k": lambda x, r, rng: (x, r),
    "aac-48k": lambda x, r, rng: (x, r),
}
_CODECS = {  # condition -> (container, suffix, encoder, bit rate, sample rate)
    "mp3-32k": ("mp3", ".mp3", "libmp3lame", 32_000, 22_050),
    "opus-24k": ("ogg", ".ogg", "libopus", 24_000, 48_000),
    "aac-48k": ("mp4", ".m4a", "aac", 48_000, 44_100),
}


def apply(condition: str, audio: np.ndarray, rate: int, seed: int) -> Audio:
    if condition not in CONDITIONS:
        raise KeyError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    rng = np.random.default_rng(seed)
    out, out_rate = CONDITIONS[condition](np.asarray(audio, np.float32), rate, rng)
    return out, out_rate


def save(stem: Path, condition: str, audio: np.ndarray, rate: int) -> Path:
    """Write the clip as the condition's file type: a WAV, or an encoded MP3/Ogg Opus/M4A."""
    if condition not in _CODECS:
        path = stem.with_suffix(".wav")
        save_wav(path, audio, rate)
        return path
    container, suffix, encoder, bit_rate, codec_rate = _CODECS[condition]
    path = stem.with_suffix(suffix)
    x = features.resample(audio, rate, codec_rate)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(encoder, rate=codec_rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1, 1)[None], format="flt", layout="mono")
        frame.sample_rate = codec_rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
