"""Phoneme symbols -> mouth shapes (visemes), and per-video-frame target tracks.

A mouth shape has three numbers in [0, 1]:
  open   0 = lips touching, 1 = widest jaw opening ("aa")
  width  0 = narrow / neutral, 1 = wide spread ("ee")
  round  1 = "oo" protrusion

espeak names phonemes with ASCII mnemonics shared across its languages ("a", "E", "@", "tS", "n^",
"R2", "u:" ...). We map them by their leading characters and vowel quality, so symbols from
languages we never looked at still land somewhere sensible; the few that fall through to the
default are counted in `UNMAPPED` (training prints them).
"""

from __future__ import annotations

from collections import Counter
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from services.engine.media.speech import SILENCE, Phoneme


class Viseme(IntEnum):
    SILENCE = 0
    BILABIAL = 1  # p b m
    LABIODENTAL = 2  # f v
    DENTAL_ALVEOLAR = 3  # t d s z n l th
    POSTALVEOLAR = 4  # sh ch j zh
    VELAR_GLOTTAL = 5  # k g ng h
    R = 6
    OPEN_VOWEL = 7  # a
    MID_VOWEL = 8  # e, schwa
    CLOSE_FRONT = 9  # i, y-glide
    ROUNDED = 10  # o u w


N_VISEMES = len(Viseme)


class MouthShape(NamedTuple):
    open: float
    width: float
    round: float


# The typical shape of each class; vowels refine it below by quality.
CLASS_SHAPES: dict[Viseme, MouthShape] = {
    Viseme.SILENCE: MouthShape(0.0, 0.2, 0.0),
    Viseme.BILABIAL: MouthShape(0.0, 0.2, 0.1),
    Viseme.LABIODENTAL: MouthShape(0.1, 0.35, 0.0),
    Viseme.DENTAL_ALVEOLAR: MouthShape(0.25, 0.4, 0.0),
    Viseme.POSTALVEOLAR: MouthShape(0.25, 0.1, 0.6),
    Viseme.VELAR_GLOTTAL: MouthShape(0.35, 0.3, 0.0),
    Viseme.R: MouthShape(0.3, 0.15, 0.5),
    Viseme.OPEN_VOWEL: MouthShape(0.9, 0.45, 0.0),
    Viseme.MID_VOWEL: MouthShape(0.55, 0.5, 0.0),
    Viseme.CLOSE_FRONT: MouthShape(0.3, 0.9, 0.0),
    Viseme.ROUNDED: MouthShape(0.4, 0.0, 0.9),
}

# Vowel qualities by espeak letter: (class, shape).
_VOWELS: dict[str, tuple[Viseme, MouthShape]] = {
    "a": (Viseme.OPEN_VOWEL, MouthShape(1.0, 0.5, 0.0)),
    "A": (Viseme.OPEN_VOWEL, MouthShape(0.95, 0.35, 0.05)),
    "&": (Viseme.OPEN_VOWEL, MouthShape(0.85, 0.7, 0.0)),  # ae as in "cat"
    "V": (Viseme.OPEN_VOWEL, MouthShape(0.7, 0.45, 0.0)),  # "strut"
    "0": (Viseme.OPEN_VOWEL, MouthShape(0.8, 0.25, 0.4)),  # "lot", rounded and open
    "e": (Viseme.MID_VOWEL, MouthShape(0.5, 0.75, 0.0)),
    "E": (Viseme.MID_VOWEL, MouthShape(0.65, 0.65, 0.0)),
    "@": (Viseme.MID_VOWEL, MouthShape(0.45, 0.45, 0.0)),  # schwa
    "3": (Viseme.MID_VOWEL, MouthShape(0.45, 0.3, 0.35)),  # "nurse"
    "8": (Viseme.MID_VOWEL, MouthShape(0.45, 0.2, 0.5)),  # rounded central
    "i": (Viseme.CLOSE_FRONT, MouthShape(0.25, 1.0, 0.0)),
    "I": (Viseme.CLOSE_FRONT, MouthShape(0.35, 0.8, 0.0)),
    "y": (Viseme.ROUNDED, MouthShape(0.25, 0.15, 0.9)),  # front rounded ue
    "Y": (Viseme.ROUNDED, MouthShape(0.35, 0.2, 0.8)),
    "2": (Viseme.ROUNDED, MouthShape(0.45, 0.15, 0.75)),  # oe
    "W": (Viseme.ROUNDED, MouthShape(0.55, 0.2, 0.7)),
    "o": (Viseme.ROUNDED, MouthShape(0.5, 0.1, 0.85)),
    "O": (Viseme.ROUNDED, MouthShape(0.7, 0.15, 0.65)),
    "u": (Viseme.ROUNDED, MouthShape(0.25, 0.0, 1.0)),
    "U": (Viseme.ROUNDED, MouthShape(0.35, 0.05, 0.8)),
}
# Letters that continue a diphthong after the first vowel ("aI", "oU", "e@"); digits and marks
# after a vowel ("I2", "a#", "u:") are variants, not a second quality.
_GLIDE_LETTERS = "aAeEiIoOuUyY@"

# Consonants by exact symbol first (multi-letter ones), then by first letter.
_EXACT: dict[str, Viseme] = {
    "tS": Viseme.POSTALVEOLAR, "dZ": Viseme.POSTALVEOLAR, "S": Viseme.POSTALVEOLAR,
    "Z": Viseme.POSTALVEOLAR, "s.": Viseme.POSTALVEOLAR, "z.": Viseme.POSTALVEOLAR,
    "ts": Viseme.DENTAL_ALVEOLAR, "dz": Viseme.DENTAL_ALVEOLAR,
    "c": Viseme.VELAR_GLOTTAL, "C": Viseme.VELAR_GLOTTAL,
    "j": Viseme.CLOSE_FRONT, "w": Viseme.ROUNDED, "B": Viseme.LABIODENTAL,
    ";": Viseme.CLOSE_FRONT,  # a palatal off-glide after a consonant (Russian, Polish)
}
_FIRST_LETTER: dict[str, Viseme] = {
    **dict.fromkeys("pbm", Viseme.BILABIAL),
    **dict.fromkeys("fvF", Viseme.LABIODENTAL),
    **dict.fromkeys("tdszTDnlL", Viseme.DENTAL_ALVEOLAR),
    **dict.fromkeys("SZ", Viseme.POSTALVEOLAR),
    **dict.fromkeys("kgGxXhHqQ?NcCJ", Viseme.VELAR_GLOTTAL),
    **dict.fromkeys("rR*", Viseme.R),
    "j": Viseme.CLOSE_FRONT,
    "w": Viseme.ROUNDED,
}
# Consonant shapes that differ from their class's.
_CONSONANT_SHAPES: dict[str, MouthShape] = {
    "w": MouthShape(0.15, 0.0, 1.0),
    "j": MouthShape(0.2, 0.8, 0.0),
    ";": MouthShape(0.2, 0.8, 0.0),
    "T": MouthShape(0.2, 0.45, 0.0),
    "D": MouthShape(0.2, 0.45, 0.0),
    "h": MouthShape(0.45, 0.35, 0.0),  # takes the next vowel's opening, roughly
    "B": MouthShape(0.08, 0.25, 0.1),  # bilabial fricative: lips close but not shut
}

_DEFAULT = Viseme.DENTAL_ALVEOLAR  # neutral, half-closed: the least wrong guess
UNMAPPED: Counter[str] = Counter()


def _normalize(symbol: str) -> str:
    sym = symbol.lstrip("',%=")
    if len(sym) > 1 and sym[0] == "?":  # glottal onset fused to a vowel ("?a")
        sym = sym[1:]
    return sym


def _vowel_qualities(sym: str) -> list[str]:
    if not sym or sym[0] not in _VOWELS:
        return []
    qualities = [sym[0]]
    qualities += [c for c in sym[1:] if c in _GLIDE_LETTERS]
    return qualities


def classify(symbol: str) -> Viseme:
    """The viseme class of an espeak phoneme symbol ("_" and pauses are SILENCE)."""
    sym = _normalize(symbol)
    if not sym or sym == SILENCE or sym.startswith("_"):
        return Viseme.SILENCE
    if sym in _EXACT:
        return _EXACT[sym]
    qualities = _vowel_qualities(sym)
    if qualities:
        return _VOWELS[qualities[0]][0]
    if sym[0] in _FIRST_LETTER:
        return _FIRST_LETTER[sym[0]]
    UNMAPPED[symbol] += 1
    return _DEFAULT


def targets(symbol: str) -> list[MouthShape]:
    """Mouth shape(s) a phoneme moves through: one, or two for a diphthong (start, end)."""
    sym = _normalize(symbol)
    cls = classify(symbol)
    qualities = _vowel_qualities(sym)
    if qualities and cls not in (Viseme.SILENCE,) and sym not in _EXACT:
        first = _VOWELS[qualities[0]][1]
        last_quality = qualities[-1]
        if len(qualities) > 1 and last_quality in _VOWELS:
            return [first, _VOWELS[last_quality][1]]
        return [first]
    if sym in _CONSONANT_SHAPES:
        return [_CONSONANT_SHAPES[sym]]
    if sym[:1] in _CONSONANT_SHAPES and cls not in (Viseme.SILENCE, Viseme.BILABIAL):
        return [_CONSONANT_SHAPES[sym[0]]]
    return [CLASS_SHAPES[cls]]


# --- tracks -------------------------------------------------------------------------------

_GRID_HZ = 200  # the target curve is built at 5 ms, then smoothed and sampled per frame
_SMOOTH_S = 0.03  # Gaussian sigma of the coarticulation smoothing (about +-2 frames at 25 fps)
_MIN_CLOSED_SILENCE_S = 0.06  # shorter word-internal pauses do not force the lips shut


def _segments(phonemes: list[Phoneme], duration: float) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    for i, ph in enumerate(phonemes):
        end = phonemes[i + 1].start if i + 1 < len(phonemes) else duration
        start, end = max(ph.start, 0.0), min(end, duration)
        if end > start:
            out.append((ph.symbol, start, end))
    return out


def _frame_labels(
    segments: list[tuple[str, float, float]], duration: float, fps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the viseme at the frame centre, and whether the lips must be shut there."""
    n = round(duration * fps)
    centres = (np.arange(n) + 0.5) / fps
    classes = np.zeros(n, dtype=np.int64)
    closed = np.ones(n, dtype=bool)  # frames past the last segment are silence
    for k, (sym, start, end) in enumerate(segments):
        cls = classify(sym)
        inside = (centres >= start) & (centres < end)
        classes[inside] = int(cls)
        edge = k == 0 or k == len(segments) - 1
        if cls == Viseme.BILABIAL:
            closed[inside] = True
        elif cls == Viseme.SILENCE:
            closed[inside] = edge or (end - start) >= _MIN_CLOSED_SILENCE_S
        else:
            closed[inside] = False
    # A p/b/m too short to hold a frame centre still shuts the lips on its nearest frame.
    for sym, start, end in segments:
        holds_centre = bool(((centres >= start) & (centres < end)).any())
        if classify(sym) == Viseme.BILABIAL and n and not holds_centre:
            t = min(int((start + end) / 2 * fps), n - 1)
            closed[t] = True
            classes[t] = int(Viseme.BILABIAL)
    return classes, closed


def _target_curve(segments: list[tuple[str, float, float]], duration: float) -> np.ndarray:
    """Piecewise targets at `_GRID_HZ`, diphthongs gliding from their first to last shape."""
    n = max(int(np.ceil(duration * _GRID_HZ)), 1)
    t = (np.arange(n) + 0.5) / _GRID_HZ
    curve = np.tile(np.asarray(CLASS_SHAPES[Viseme.SILENCE], np.float32), (n, 1))
    for sym, start, end in segments:
        inside = (t >= start) & (t < end)
        if not inside.any():
            continue
        shapes = np.asarray(targets(sym), np.float32)
        if len(shapes) == 1:
            curve[inside] = shapes[0]
        else:
            frac = ((t[inside] - start) / (end - start))[:, None]
            curve[inside] = shapes[0] * (1 - frac) + shapes[-1] * frac
    return curve


def _gaussian_smooth(curve: np.ndarray, sigma_samples: float) -> np.ndarray:
    radius = int(3 * sigma_samples)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma_samples) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(curve, ((radius, radius), (0, 0)), mode="edge")
    out = np.empty_like(curve)
    for c in range(curve.shape[1]):
        out[:, c] = np.convolve(padded[:, c], kernel, mode="valid")
    return out


def shape_track(phonemes: list[Phoneme], duration: float, fps: int = 25) -> np.ndarray:
    """[T, 3] (open, width, round) per video frame, T = round(duration * fps).

    Frame t shows time (t + 0.5) / fps. Targets are smoothed over about two frames either side
    (coarticulation), then the lips are shut exactly on every p/b/m and in silence.
    """
    n = round(duration * fps)
    segments = _segments(phonemes, duration)
    curve = _gaussian_smooth(_target_curve(segments, duration), _SMOOTH_S * _GRID_HZ)
    grid_t = (np.arange(len(curve)) + 0.5) / _GRID_HZ
    centres = (np.arange(n) + 0.5) / fps
    track = np.stack([np.interp(centres, grid_t, curve[:, c]) for c in range(3)], axis=1)
    _, closed = _frame_labels(segments, duration, fps)
    track[closed, 0] = 0.0
    return track.clip(0.0, 1.0).astype(np.float32)


def viseme_track(phonemes: list[Phoneme], duration: float, fps: int = 25) -> np.ndarray:
    """[T] viseme class at each frame centre (short p/b/m claim their nearest frame)."""
    classes, _ = _frame_labels(_segments(phonemes, duration), duration, fps)
    return classes


def openness_track(phonemes: list[Phoneme], duration: float, fps: int = 25) -> np.ndarray:
    """[T] ground-truth mouth opening (column 0 of `shape_track`)."""
    return shape_track(phonemes, duration, fps)[:, 0]
