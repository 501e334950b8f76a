"""Real recorded speech shipped by Debian packages, labelled by forced alignment.

- `pocketsphinx-testdata`: five read sentences from a LibriVox audiobook, five playing-card
  phrases and "go forward ten meters", with their transcripts;
- `alsa-utils`: the speaker-test voice prompts ("Front left", ...).

Nobody timed these phones by hand: the timings come from pocketsphinx's forced aligner (its
bundled US English acoustic model and dictionary, 10 ms frames) given the known transcript.
They are good to a frame or two, not exact, and the aligner shares its acoustic model with the
pocketsphinx front end, so whoever reports figures on them must say so.
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.engine.engine_errors import MediaError
from services.engine.media import features
from services.engine.media.speech import SILENCE, Phoneme, Utterance
from services.engine.training.festival import to_espeak

SPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
_FRAME_S = 0.01  # pocketsphinx's frame rate is 100 per second
_ALSA_PROMPTS = {  # file stem -> what the voice says
    "Front_Left": "front left", "Front_Right": "front right", "Front_Center": "front center",
    "Rear_Left": "rear left", "Rear_Right": "rear right", "Rear_Center": "rear center",
    "Side_Left": "side left", "Side_Right": "side right",
}


@dataclass(frozen=True)
class Recording:
    path: Path
    transcript: str  # lower case words, as the pocketsphinx dictionary spells them
    source: str  # the Debian package it comes from


def _transcripts(listing: Path) -> dict[str, str]:
    """Sphinx ".transcription" lines "<s> words </s> (id)" -> {id: words}."""
    out = {}
    for line in listing.read_text().splitlines():
        found = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*$", line)
        if found:
            out[found.group(2)] = " ".join(found.group(1).split())
    return out


def recordings() -> list[Recording]:
    """Every labelled recording installed on this machine, those richest in p/b/m first."""
    out: list[Recording] = []
    libri = SPHINX_DATA / "librivox"
    if (libri / "transcription").exists():
        for key, words in _transcripts(libri / "transcription").items():
            out.append(Recording(libri / f"{key}.wav", words, "pocketsphinx-testdata"))
    cards = SPHINX_DATA / "cards"
    if (cards / "cards.transcription").exists():
        for key, words in _transcripts(cards / "cards.transcription").items():
            out.append(Recording(cards / f"{key}.wav", words, "pocketsphinx-testdata"))
    if (SPHINX_DATA / "goforward.raw").exists():  # pocketsphinx's own tests decode this text
        out.append(Recording(SPHINX_DATA / "goforward.raw", "go forward ten meters",
                             "pocketsphinx-testdata"))
    for stem, words in _ALSA_PROMPTS.items():
        out.append(Recording(ALSA_SOUNDS / f"{stem}.wav", words, "alsa-utils"))
    return [r for r in out if r.path.exists()]


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """A WAV file, or a headerless 16 kHz 16-bit ".raw" file -> (float32 mono, rate)."""
    if path.suffix == ".raw":
        return np.fromfile(path, "<i2").astype(np.float32) / 32768.0, 16_000
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0, rate


def align(audio16k: np.ndarray, transcript: str) -> list[Phoneme]:
    """Phone timings of `transcript` in 16 kHz audio, by pocketsphinx forced alignment."""
    from pocketsphinx import Decoder

    pcm = (np.clip(audio16k, -1, 1) * 32767).astype("<i2").tobytes()
    decoder = Decoder(samprate=16_000, bestpath=False, loglevel="FATAL")
    try:
        decoder.set_align_text(transcript)
        for second_pass in (False, True):  # words first, then phones within them
            if second_pass:
                decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
        alignment = decoder.get_alignment()
    except RuntimeError as exc:
        raise MediaError(f"forced alignment failed for {transcript!r}: {exc}") from exc
    if alignment is None:
        raise MediaError(f"forced alignment found no path for {transcript!r}")
    out: list[Phoneme] = []
    for word in alignment:
        for phone in word:
            name = phone.name.lower()
            symbol = SILENCE if name == "sil" or name.startswith("+") else to_espeak(name)
            if not (out and out[-1].symbol == symbol == SILENCE):
                out.append(Phoneme(symbol, phone.start * _FRAME_S))
    if not out or out[0].start > 0:
        out.insert(0, Phoneme(SILENCE, 0.0))
    return out


def labelled(recording: Recording) -> Utterance:
    """The recording at its own rate, with phonemes from the forced aligner."""
    audio, rate = load_audio(recording.path)
    audio16k = features.resample(audio, rate, 16_000) if rate != 16_000 else audio
    return Utterance(audio, rate, align(audio16k, recording.transcript))
