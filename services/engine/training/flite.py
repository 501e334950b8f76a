"""Speech with phone timings from CMU Flite (Debian's `flite`), a held-out synthesizer.

`flite -psdur` prints every segment as "name:end" (seconds) while it synthesizes, so the
timings are the synthesizer's own, not an aligner's guess. Flite uses the same US English
("radio") phone set as Festival, renamed to espeak mnemonics with `festival.to_espeak`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from services.engine.engine_errors import MediaError
from services.engine.media.speech import SILENCE, Phoneme, Utterance
from services.engine.training.festival import to_espeak

# The voices compiled into Debian's flite. "awb_time" speaks only the time of day; "kal" and
# "kal16" are one voice at 8 and 16 kHz.
VOICES = ("slt", "rms", "awb", "kal16", "kal")


def available() -> bool:
    return shutil.which("flite") is not None


def synthesize(text: str, voice: str = "slt", timeout: float = 60.0) -> Utterance:
    """Speak `text` with flite voice `voice` -> audio and espeak-style phonemes."""
    if not available():
        raise MediaError("flite is not installed (Debian package `flite`)")
    with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
        wav = Path(tmp) / "speech.wav"
        done = subprocess.run(["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(wav)],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0 or not wav.exists():
            raise MediaError(f"flite failed for voice {voice}: {done.stderr.strip()[-300:]}")
        with wave.open(str(wav)) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            channels = w.getnchannels()
    audio = pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
    return Utterance(audio, rate, parse_segments(done.stdout))


def parse_segments(listing: str) -> list[Phoneme]:
    """"pau:0.193 b:0.224 ..." (phone:end) -> phonemes with start times, the first at 0."""
    out: list[Phoneme] = []
    start = 0.0
    for item in listing.split():
        name, sep, end_text = item.rpartition(":")
        if not sep:
            continue
        try:
            end = float(end_text)
        except ValueError:
            continue
        if end <= start:
            continue
        symbol = to_espeak(name)
        if not (out and out[-1].symbol == symbol == SILENCE):
            out.append(Phoneme(symbol, start))
        start = end
    return out or [Phoneme(SILENCE, 0.0)]
