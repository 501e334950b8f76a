"""Life for a still portrait: blinks and a slight head sway, reproducible from a seed."""

from __future__ import annotations

import numpy as np

# A blink closes fast and opens a little slower; values per 25 fps frame.
BLINK_PROFILE = np.array([0.35, 0.85, 1.0, 0.8, 0.45, 0.18])


def blink_track(frames: int, fps: int, rng: np.random.Generator, rate: float = 1.0) -> np.ndarray:
    """Lid closure in [0, 1] per frame; blinks every 2-6 s, as people do at rest, or `rate`
    times as often (0: never)."""
    track = np.zeros(frames, np.float32)
    if rate <= 0:
        return track
    t = rng.uniform(0.6, 2.5)
    while True:
        start = int(t * fps)
        if start >= frames:
            return track
        end = min(frames, start + BLINK_PROFILE.size)
        track[start:end] = np.maximum(track[start:end], BLINK_PROFILE[: end - start])
        t += rng.uniform(2.0, 6.0) / rate


def head_track(
    frames: int, fps: int, rng: np.random.Generator, speech: np.ndarray | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """Per frame (angle in radians, dx, dy as fractions of the face size).

    Slow sums of sines with random phases sway the head; the mouth's opening adds a small nod,
    as speakers move with their speech. `scale` multiplies all of it (0: a still head).
    """
    t = np.arange(frames, dtype=np.float64) / fps
    pose = np.zeros((frames, 3))
    amplitudes = (np.deg2rad(1.3), 0.012, 0.009)
    for axis, amplitude in enumerate(amplitudes):
        for freq, weight in ((0.11, 0.6), (0.23, 0.3), (0.47, 0.1)):
            f = freq * rng.uniform(0.8, 1.25)
            pose[:, axis] += weight * amplitude * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    if speech is not None and speech.size == frames and frames > 2:
        kernel = np.hanning(13)
        kernel /= kernel.sum()
        nod = np.convolve(np.pad(speech, 6, mode="edge"), kernel, mode="valid")
        pose[:, 2] += 0.01 * nod
        pose[:, 0] += np.deg2rad(0.4) * (nod - nod.mean())
    # Fade in from the photo's own pose so frame 0 equals the input.
    ramp = np.clip(t / 0.6, 0, 1)[:, None]
    pose = (pose - pose[:1]) * ramp
    return pose if scale == 1.0 else pose * scale
