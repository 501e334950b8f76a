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

import multiprocessing
import random
from dataclasses import dataclass

import numpy as np

from services.engine.engine_errors import MediaError
from services.engine.media import features, speech
from services.engine.media.speech import SILENCE, Phoneme, Utterance
from services.engine.mouth import visemes
from services.engine.training import augment, festival, openjtalk, text

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
# Festival voices trained on (diphones and HTS voices built from recordings of real speakers),
# with the language of the text they read. Held out for evaluation, never trained on:
# kal_diphone, cmu_us_slt_arctic_hts, flite, pyopenjtalk's voices, real recordings.
FESTIVAL_TRAIN_VOICES: dict[str, str] = {
    "ked_diphone": "en", "pc_diphone": "it", "lp_diphone": "it", "czech_ph": "cs",
    "suo_fi_lj_diphone": "fi", "hy_fi_mv_diphone": "fi",
}
# Not trained on either: the validation voice that training's choices (closure threshold) are
# made on, an HTS voice like the held-out ones it stands in for, reading English.
FESTIVAL_VALIDATION_VOICE = "upc_ca_ona_hts"
FESTIVAL_HELD_OUT_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")
VALIDATION_SENTENCES = (
    "Bring a bigger bowl of plums and pears, please.",
    "My pal Bill bumped into him by the tram stop.",
    "We maybe met the members at the museum in May.",
    "The puppy probably buried both bones by the pump.",
    "Put the map back before Pam comes home.",
    "A humble baker made my brother a lemon pie.",
    "Open the window, the room smells of paint.",
    "Is it time to go home? I think we should wait.",
    "Robert plays the trumpet in a marching band.",
    "Someone left a warm jacket on the bus this morning.",
    "Ask the captain whether the ship can leave at noon.",
    "Her famous apple pudding was the best in the village.",
)


def validation_utterances() -> list[Utterance]:
    """The validation voice reading sentences written for validation only."""
    return [_trim_silence(u) for u in festival.synthesize_many(list(VALIDATION_SENTENCES),
                                                               FESTIVAL_VALIDATION_VOICE)]

FPS = features.VIDEO_FPS
STEPS_PER_FRAME = features.MEL_FPS // FPS  # feature frames per video frame


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


def festival_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` training items from festival's training voices, in turn; 1-3 sentences each."""
    rng = random.Random(f"festival-{seed}")
    voices = list(FESTIVAL_TRAIN_VOICES)
    plans: dict[str, list[list[str]]] = {v: [] for v in voices}
    for i in range(n):
        voice = voices[i % len(voices)]
        language = FESTIVAL_TRAIN_VOICES[voice]
        count = rng.choice((1, 1, 2, 3))
        plans[voice].append([text.english_sentence(rng) if language == "en"
                             else text.pseudo_sentence(language, rng) for _ in range(count)])
    out = []
    for voice, items in plans.items():
        if not items:
            continue
        spoken = iter(_festival_say([s for item in items for s in item], voice))
        for item in items:
            parts = [p for p in (next(spoken) for _ in item) if p is not None]
            if not parts:
                continue
            gaps = [rng.uniform(0.05, 0.8) for _ in parts[1:]]
            utt = concatenate(parts, gaps, lead=rng.uniform(0.0, 0.6), trail=rng.uniform(0.0, 0.6))
            out.append(to_example(utt, FESTIVAL_TRAIN_VOICES[voice]))
    return out


def japanese_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` training items of Japanese from Open JTalk with its training voice (not the held-out
    `mei`): 1-2 sentences each, pitch shifted a few semitones (durations stay exact)."""
    if n <= 0:
        return []
    if not openjtalk.training_voice_available():
        raise MediaError(f"the Japanese training voice is missing ({openjtalk.TRAINING_VOICE}): "
                         "apt-get install hts-voice-nitech-jp-atr503-m001 (Debian contrib)")
    rng = random.Random(f"japanese-{seed}")
    out = []
    for _ in range(n):
        tone = rng.uniform(-2.0, 6.0)  # the training voice is a man's; reach women's pitch too
        sentences = [text.japanese_sentence(rng) for _ in range(rng.choice((1, 1, 2)))]
        parts = [_trim_silence(openjtalk.synthesize(s, tone, openjtalk.TRAINING_VOICE)) for s in sentences]
        gaps = [rng.uniform(0.05, 0.8) for _ in parts[1:]]
        utt = concatenate(parts, gaps, lead=rng.uniform(0.0, 0.6), trail=rng.uniform(0.0, 0.6))
        out.append(to_example(utt, "ja"))
    return out


def _festival_say(texts: list[str], voice: str) -> list[Utterance | None]:
    """Trimmed speech for each text; None where festival cannot read one (some voices reject a
    few pseudo-words: the batch is retried one text at a time so the rest survive)."""
    try:
        return [_trim_silence(u) for u in festival.synthesize_many(texts, voice)]
    except MediaError:
        out: list[Utterance | None] = []
        for t in texts:
            try:
                out.append(_trim_silence(festival.synthesize(t, voice)))
            except MediaError:
                out.append(None)
        return out


def _trim_silence(utt: Utterance) -> Utterance:
    """Festival pads each sentence with a pause; keep at most 0.1 s of it at either end."""
    phon = utt.phonemes
    start = phon[1].start - 0.1 if len(phon) > 1 and phon[0].symbol == SILENCE else 0.0
    start = max(start, 0.0)
    end = utt.duration
    if len(phon) > 1 and phon[-1].symbol == SILENCE:
        end = min(phon[-1].start + 0.1, end)
    a, b = int(start * utt.sample_rate), int(end * utt.sample_rate)
    kept = [Phoneme(p.symbol, max(p.start - start, 0.0)) for p in phon if p.start < end]
    return Utterance(utt.audio[a:b], utt.sample_rate, _dedupe(kept))


def _dedupe(phonemes: list[Phoneme]) -> list[Phoneme]:
    out: list[Phoneme] = []
    for p in phonemes:
        if out and out[-1].start >= p.start:
            out.pop()
        out.append(p)
    return out


def heldout_examples(n: int, seed: int = 0) -> list[Example]:
    return [to_example(lu.utterance, "en") for lu in heldout_utterances(n, seed)]


# --- batches ------------------------------------------------------------------------------


@dataclass
class Batch:
    features: np.ndarray  # [B, 4 * T, N_FEATURES] float32
    shapes: np.ndarray  # [B, T, 3]
    visemes: np.ndarray  # [B, T] int64


def _silent_targets(n: int) -> tuple[np.ndarray, np.ndarray]:
    shape = np.asarray(visemes.CLASS_SHAPES[visemes.Viseme.SILENCE], np.float32)
    return np.tile(shape, (n, 1)), np.zeros(n, np.int64)


def featurize(pool: list[Example], versions: int, seed: int, workers: int = 2) -> list[
        list[np.ndarray]]:
    """Every item's model input `versions` times: clean, then differently augmented copies.

    Features are computed once for whole utterances (the front end costs far more than a
    training step, and its running normalisation wants the utterance's own past); batches
    then crop from them. Each item draws its augmentations from its own seed, so the result
    does not depend on `workers`.
    """
    global _FEATURIZING
    _FEATURIZING = pool  # forked workers read it from memory instead of a pickled copy per job
    jobs = [(i, versions, seed) for i in range(len(pool))]
    try:
        if workers <= 1:
            return [_featurize_item(job) for job in jobs]
        with multiprocessing.get_context("fork").Pool(workers) as procs:
            return procs.map(_featurize_item, jobs, chunksize=16)
    finally:
        _FEATURIZING = []


_FEATURIZING: list[Example] = []


def _featurize_item(job: tuple[int, int, int]) -> list[np.ndarray]:
    from services.engine.mouth.mouth_model import phonetic_frames

    i, versions, seed = job
    pool = _FEATURIZING
    rng = np.random.default_rng([seed, i])
    audio = pool[i].audio
    copies = [phonetic_frames(audio)]
    for _ in range(versions - 1):
        others = [pool[int(j)].audio for j in rng.integers(0, len(pool), size=2)]
        copies.append(phonetic_frames(augment.augment(audio, others, rng)))
    return copies


def _fit_rows(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad rows to exactly `n`."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.repeat(x[-1:], n - len(x), axis=0)])


def crop(example: Example, steps: np.ndarray, frames: int, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """(features, shapes, visemes) of a window of `frames` video frames; short items are padded
    with silence (targets) and their edge frames (features) at random sides."""
    t = len(example.shapes)
    steps = _fit_rows(steps, t * STEPS_PER_FRAME)
    shapes, labels = example.shapes, example.visemes
    if t < frames:
        left = int(rng.integers(0, frames - t + 1))
        right = frames - t - left
        ls, lv = _silent_targets(left)
        rs, rv = _silent_targets(right)
        padded = np.concatenate([np.repeat(steps[:1], left * STEPS_PER_FRAME, axis=0), steps,
                                 np.repeat(steps[-1:], right * STEPS_PER_FRAME, axis=0)])
        return (padded, np.concatenate([ls, shapes, rs]), np.concatenate([lv, labels, rv]))
    start = int(rng.integers(0, t - frames + 1))
    a0 = start * STEPS_PER_FRAME
    return (steps[a0 : a0 + frames * STEPS_PER_FRAME], shapes[start : start + frames],
            labels[start : start + frames])


def make_batch(pool: list[Example], cache: list[list[np.ndarray]], indices: list[int],
               frames: int, rng: np.random.Generator) -> Batch:
    """Crops of `indices` of `pool`, each from a random one of its featurized versions."""
    steps, shapes, labels = [], [], []
    for i in indices:
        version = cache[i][int(rng.integers(0, len(cache[i])))]
        x, y, v = crop(pool[i], version, frames, rng)
        steps.append(x)
        shapes.append(y)
        labels.append(v)
    return Batch(np.stack(steps), np.stack(shapes), np.stack(labels))
