"""Speech with exact phone timings from the Festival speech synthesizer (Debian's `festival`).

A second synthesizer beside espeak-ng: its diphone voices are cut from recordings of real
speakers, so their spectra are far closer to real speech than espeak's formant synthesis. The
segment relation gives every phone's end time; phones are renamed to espeak mnemonics so the
viseme rules (`visemes.classify`) apply unchanged.

Which voices may be trained on and which are held out for evaluation is decided by the callers
(`data.FESTIVAL_TRAIN_VOICES`, and the benchmark's families), not here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unicodedata
import wave
from pathlib import Path

import numpy as np

from services.engine.engine_errors import MediaError
from services.engine.media.speech import SILENCE, Phoneme, Utterance

# Festival's US/UK English ("radio") phone set -> espeak-ng mnemonics.
_RADIO_TO_ESPEAK = {
    "aa": "A:", "ae": "a", "ah": "V", "ao": "O:", "aw": "aU", "ax": "@", "ay": "aI",
    "eh": "E", "er": "3:", "ey": "eI", "ih": "I", "iy": "i:", "ow": "oU", "oy": "OI",
    "uh": "U", "uw": "u:", "ch": "tS", "jh": "dZ", "dh": "D", "th": "T", "sh": "S",
    "zh": "Z", "hh": "h", "ng": "N", "y": "j", "pau": SILENCE, "h#": SILENCE, "#": SILENCE,
}


_MARK = "#utterance"


def available() -> bool:
    return shutil.which("festival") is not None


def to_espeak(phone: str) -> str:
    """A festival phone name as the espeak mnemonic with the same mouth shape."""
    if phone in _RADIO_TO_ESPEAK:
        return _RADIO_TO_ESPEAK[phone]
    # Other languages' sets are SAMPA-like: single letters already read as espeak's do.
    return phone


def _escape(text: str) -> str:
    # Festival's voices read 8-bit text: diacritics are dropped (the labels follow whatever
    # is spoken, so text and labels stay consistent).
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    plain = plain.encode("ascii", "ignore").decode("ascii")
    return plain.replace("\\", "\\\\").replace('"', '\\"')


def synthesize(text: str, voice: str, timeout: float = 60.0) -> Utterance:
    """Speak `text` with festival voice `voice` (e.g. "kal_diphone") -> audio and phonemes."""
    return synthesize_many([text], voice, timeout)[0]


def synthesize_many(texts: list[str], voice: str, timeout: float = 600.0) -> list[Utterance]:
    """Speak each of `texts` with one festival process (its start-up dominates short texts)."""
    if not available():
        raise MediaError("festival is not installed (Debian package `festival`)")
    with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
        lines = [f"(voice_{voice})"]
        for i, text in enumerate(texts):
            wav = Path(tmp) / f"{i}.wav"
            lines += [
                f'(set! utt (Utterance Text "{_escape(text)}"))',
                "(utt.synth utt)",
                f'(utt.save.wave utt "{wav}" \'riff)',
                f'(format t "{_MARK} {i}\\n")',
                "(mapcar (lambda (s) (format t \"%s %f\\n\" (item.name s) (item.feat s \"end\")))"
                " (utt.relation.items utt 'Segment))",
            ]
        script = Path(tmp) / "say.scm"
        script.write_text("\n".join(lines) + "\n", encoding="latin-1")
        done = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True,
                              timeout=timeout, check=False)
        listings = done.stdout.split(_MARK)[1:]
        out = []
        for i in range(len(texts)):
            wav = Path(tmp) / f"{i}.wav"
            if done.returncode != 0 or not wav.exists() or len(listings) <= i:
                raise MediaError(f"festival failed for voice {voice}: "
                                 f"{done.stderr.strip()[-300:]}")
            out.append(Utterance(*_read_wav(wav), _phonemes(listings[i].split("\n", 1)[1])))
    return out


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0, rate


def _phonemes(listing: str) -> list[Phoneme]:
    """"name end" lines -> phonemes with start times (the first starts at 0)."""
    out: list[Phoneme] = []
    start = 0.0
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            end = float(parts[1])
        except ValueError:
            continue
        symbol = to_espeak(parts[0])
        if end > start:
            if out and out[-1].symbol == symbol == SILENCE:
                start = end
                continue
            out.append(Phoneme(symbol, start))
        start = max(start, end)
    return out
