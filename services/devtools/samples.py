"""Sample inputs for tests, the demo and the benchmarks, made from registry packages.

Faces: scikit-image's `astronaut` (Eileen Collins) and matplotlib's `grace_hopper.jpg`, both
public domain. Speech: synthesised with espeak-ng. Needs the `dev` extras (scikit-image,
matplotlib).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.engine.media import speech


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    encoded = np.frombuffer(Path(str(path)).read_bytes(), np.uint8)
    bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def two_people() -> np.ndarray:
    """Astronaut on the left, Grace Hopper on the right, at the same height."""
    left, right = astronaut(), grace_hopper()
    height = 512
    left = cv2.resize(left, (round(left.shape[1] * height / left.shape[0]), height))
    right = cv2.resize(right, (round(right.shape[1] * height / right.shape[0]), height))
    return np.concatenate([left, right], axis=1)


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return Path(path)


def save_speech(path: str | Path, text: str, voice: str = "en-us", rate: int = 160,
                pitch: int = 50, variant: str | None = None) -> speech.Utterance:
    """Synthesise `text` to a WAV file and return the utterance with its phoneme timings; the
    same arguments give the same file whatever was synthesised before."""
    utterance = speech.synthesize_isolated(text, voice=voice, rate=rate, pitch=pitch, variant=variant)
    speech.save_wav(path, utterance.audio, utterance.sample_rate)
    return utterance
