"""The mouth model's data: labelled synthetic speech with a held-out split, and training batches.

Held-out split (the benchmark `bench/sync.py` imports these names):
- `HELD_OUT_VOICES`, `HELD_OUT_VARIANTS`, `HELD_OUT_RATES`: never used for training;
- `HELD_OUT_SENTENCES`: natural sentences; training speaks random word sequences instead;
- `heldout_specs(n, seed)` -> `SpeechSpec`s, and `heldout_utterances(n, seed)` ->
  `LabelledUtterance`s (`.text`, `.voice`, `.rate`, `.spec`, `.utterance` with audio + phonemes).
  Ground truth per frame: `visemes.shape_track / viseme_track / openness_track(u.phonemes,
  u.duration)`. Reproducible bit for bit when called first in a fresh process (espeak carries
  its glottal phase from call to call; see `speech`), and always self-consistent.

This module is numpy-only (no torch), so the benchmark can use it in the runtime environment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from services.engine import features, speech, visemes
from services.engine.speech import SILENCE, Phoneme, Utterance
from services.engine.training import augment, text

ENGLISH_TRAIN_VOICES = (
    "en-us", "en", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)
HELD_OUT_VOICES = ("en-gb-scotland", "en-029")
HELD_OUT_VARIANTS = ("f4", "m3", "Annie", "klatt4", "edward")
# Variants left out of training: unnatural ones, and breathy ones whose noise espeak-ng draws
# from state that differs from run to run (so the data set would not be reproducible).
_ODD_VARIANTS = ("whisper", "whisperf", "croak", "Demonic")
_NONDETERMINISTIC_VARIANTS = ("Alicia", "f2", "f3", "f5", "sandro", "victor")
HELD_OUT_SENTENCES = text.HELD_OUT_SENTENCES
TRAIN_RATES = tuple(range(110, 261, 10))
HELD_OUT_RATES = (135, 175, 215)
PITCH_RANGE = (20, 90)
HELD_OUT_PITCHES = (35, 50, 65)

FPS = features.VIDEO_FPS
SAMPLES_PER_FRAME = features.SAMPLE_RATE // FPS  # 640: one video frame = 4 mel frames
MELS_PER_FRAME = features.MEL_FPS // FPS


@dataclass(frozen=True)
class SpeechSpec:
    """Everything needed to synthesize one utterance again."""

    text: str
    voice: str
    variant: str | None
    rate: int
    pitch: int

    def synthesize(self) -> Utterance:
        return speech.synthesize(self.text, self.voice, self.rate, self.pitch, self.variant)


@dataclass
class LabelledUtterance:
    """A spec and its synthesized speech (at espeak's rate, 22,050 Hz)."""

    spec: SpeechSpec
    utterance: Utterance

    @property
    def text(self) -> str:
        return self.spec.text

    @property
    def voice(self) -> str:
        return self.spec.voice

    @property
    def rate(self) -> int:
        return self.spec.rate


@dataclass
class Example:
    """A clean training/evaluation item at 16 kHz with per-video-frame targets."""

    audio: np.ndarray  # float32, 16 kHz
    shapes: np.ndarray  # [T, 3]
    visemes: np.ndarray  # [T] int
    language: str


def train_variants() -> list[str]:
    held = set(HELD_OUT_VARIANTS) | set(_ODD_VARIANTS) | set(_NONDETERMINISTIC_VARIANTS)
    return [v for v in speech.variants() if v not in held]


def heldout_specs(n: int, seed: int = 0) -> list[SpeechSpec]:
    """`n` held-out specs cycling through the held-out sentences, voices, variants and rates."""
    rng = random.Random(f"heldout-{seed}")
    out = []
    for i in range(n):
        out.append(SpeechSpec(
            text=text.HELD_OUT_SENTENCES[(i + seed) % len(text.HELD_OUT_SENTENCES)],
            voice=HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)],
            variant=rng.choice((None, *HELD_OUT_VARIANTS)),
            rate=rng.choice(HELD_OUT_RATES),
            pitch=rng.choice(HELD_OUT_PITCHES),
        ))
    return out


def heldout_utterances(n: int, seed: int = 0) -> list[LabelledUtterance]:
    """Deterministic held-out speech: voices, variants, rates and sentences unseen in training."""
    return [LabelledUtterance(s, s.synthesize()) for s in heldout_specs(n, seed)]


def _shift(phonemes: list[Phoneme], offset: float) -> list[Phoneme]:
    return [Phoneme(p.symbol, p.start + offset) for p in phonemes]


def concatenate(parts: list[Utterance], gaps: list[float], lead: float, trail: float) -> Utterance:
    """Join utterances with silent gaps (seconds) and pad both ends; one phoneme track."""
    rate = parts[0].sample_rate
    pieces: list[np.ndarray] = []
    track: list[Phoneme] = []
    pos = 0  # samples so far

    def add(audio: np.ndarray, phonemes: list[Phoneme]) -> None:
        nonlocal pos
        pieces.append(audio.astype(np.float32))
        track.extend(_shift(phonemes, pos / rate))
        pos += len(audio)

    def pause(seconds: float) -> None:
        if int(seconds * rate) > 0:
            add(np.zeros(int(seconds * rate), np.float32), [Phoneme(SILENCE, 0.0)])

    pause(lead)
    for i, part in enumerate(parts):
        if i:
            pause(gaps[i - 1])
        add(part.audio, part.phonemes)
    pause(trail)
    merged: list[Phoneme] = []
    for p in track:
        if merged and merged[-1].start >= p.start:  # a zero-length phoneme: the later one wins
            merged.pop()
        if merged and merged[-1].symbol == p.symbol == SILENCE:
            continue
        merged.append(p)
    return Utterance(np.concatenate(pieces), rate, merged)


def to_example(utt: Utterance, language: str) -> Example:
    """Resample to 16 kHz and compute the per-frame targets."""
    audio = features.resample(utt.audio, utt.sample_rate, features.SAMPLE_RATE)
    duration = len(audio) / features.SAMPLE_RATE
    return Example(
        audio=audio,
        shapes=visemes.shape_track(utt.phonemes, duration, FPS),
        visemes=visemes.viseme_track(utt.phonemes, duration, FPS),
        language=language,
    )


def _random_item(rng: random.Random, variants: list[str]) -> tuple[str, list[SpeechSpec]]:
    """One training item: 1-3 sentences in one voice; 70 % English."""
    if rng.random() < 0.7:
        voice, language = rng.choice(ENGLISH_TRAIN_VOICES), "en"
        sentences = [text.english_sentence(rng) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
    else:
        language = rng.choice(text.other_languages())
        voice = language
        sentences = [text.pseudo_sentence(language, rng) for _ in range(rng.choice((1, 2)))]
    variant = rng.choice(variants) if rng.random() < 0.85 else None
    rate, pitch = rng.choice(TRAIN_RATES), rng.randint(*PITCH_RANGE)
    return language, [SpeechSpec(s, voice, variant, rate, pitch) for s in sentences]


def training_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` clean training items: sentences joined by pauses, with silence at both ends."""
    rng = random.Random(f"train-{seed}")
    variants = train_variants()
    out = []
    for _ in range(n):
        language, specs = _random_item(rng, variants)
        parts = [s.synthesize() for s in specs]
        gaps = [rng.uniform(0.05, 0.8) for _ in parts[1:]]
        utt = concatenate(parts, gaps, lead=rng.uniform(0.0, 0.6), trail=rng.uniform(0.0, 0.6))
        out.append(to_example(utt, language))
    return out


def heldout_examples(n: int, seed: int = 0) -> list[Example]:
    return [to_example(lu.utterance, "en") for lu in heldout_utterances(n, seed)]


# --- batches ------------------------------------------------------------------------------


@dataclass
class Batch:
    mel: np.ndarray  # [B, T_mel, N_MELS] float32, T_mel = 4 * T
    shapes: np.ndarray  # [B, T, 3]
    visemes: np.ndarray  # [B, T] int64


def _silent_targets(n: int) -> tuple[np.ndarray, np.ndarray]:
    shape = np.asarray(visemes.CLASS_SHAPES[visemes.Viseme.SILENCE], np.float32)
    return np.tile(shape, (n, 1)), np.zeros(n, np.int64)


def crop(example: Example, frames: int, rng: np.random.Generator) -> Example:
    """A window of `frames` video frames; short items are padded with silence at random sides."""
    t = len(example.shapes)
    audio, shapes, labels = example.audio, example.shapes, example.visemes
    if t < frames:
        left = int(rng.integers(0, frames - t + 1))
        right = frames - t - left
        ls, lv = _silent_targets(left)
        rs, rv = _silent_targets(right)
        shapes = np.concatenate([ls, shapes, rs])
        labels = np.concatenate([lv, labels, rv])
        body = np.zeros(t * SAMPLES_PER_FRAME, np.float32)
        body[: min(len(audio), len(body))] = audio[: len(body)]
        audio = np.concatenate([np.zeros(left * SAMPLES_PER_FRAME, np.float32), body,
                                np.zeros(right * SAMPLES_PER_FRAME, np.float32)])
        return Example(audio, shapes, labels, example.language)
    start = int(rng.integers(0, t - frames + 1))
    a0 = start * SAMPLES_PER_FRAME
    piece = np.zeros(frames * SAMPLES_PER_FRAME, np.float32)
    chunk = audio[a0 : a0 + len(piece)]
    piece[: len(chunk)] = chunk
    return Example(piece, shapes[start : start + frames], labels[start : start + frames],
                   example.language)


def make_batch(
    pool: list[Example], indices: list[int], frames: int, rng: np.random.Generator,
    augmented: bool = True,
) -> Batch:
    """Crop, augment and featurize `indices` of `pool` into one batch."""
    mels, shapes, labels = [], [], []
    for i in indices:
        ex = crop(pool[i], frames, rng)
        audio = ex.audio
        if augmented:
            others = [pool[int(j)].audio for j in rng.integers(0, len(pool), size=2)]
            audio = augment.augment(audio, others, rng)
        mel = features.log_mel(audio)[: frames * MELS_PER_FRAME]
        mels.append(mel)
        shapes.append(ex.shapes)
        labels.append(ex.visemes)
    return Batch(np.stack(mels), np.stack(shapes), np.stack(labels))
