"""Japanese speech with exact phone timings from Open JTalk (PyPI `pyopenjtalk-plus`).

The wheel bundles its dictionary and the `mei_normal` HTS voice (a statistical voice trained on
recordings of a real speaker), so nothing is fetched at run time. That voice is held out for
evaluation; training speaks Japanese with another speaker's voice, Nagoya Institute of
Technology's `nitech_jp_atr503_m001` (a man, the ATR503 sentences; CC-BY 3.0), from Debian's
contrib package `hts-voice-nitech-jp-atr503-m001` (`make train` installs it).

Timings: the HTS engine picks each phone's state durations from that phone's own full-context
label alone (at speed 1.0 every state is rounded on its own), so synthesizing one label by itself
yields exactly the number of samples that phone gets in the whole utterance. The phone
boundaries are therefore the synthesizer's own, to the sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from services.engine.engine_errors import MediaError
from services.engine.media.speech import SILENCE, Phoneme, Utterance

# Open JTalk phones -> espeak mnemonics with the same mouth shape (`visemes.classify`).
# Capital vowels are devoiced; "f" is bilabial [ɸ] but the lips do not shut, so it is not "p".
_PHONES = {
    "a": "a", "i": "i", "u": "u", "e": "e", "o": "o",
    "A": "a", "I": "i", "U": "u", "E": "e", "O": "o",
    "k": "k", "ky": "k", "g": "g", "gy": "g", "s": "s", "sh": "S", "z": "z", "j": "dZ",
    "t": "t", "ty": "t", "ch": "tS", "ts": "ts", "d": "d", "dy": "d", "n": "n", "ny": "n^",
    "h": "h", "hy": "C", "f": "F", "b": "b", "by": "b", "p": "p", "py": "p", "m": "m",
    "my": "m", "r": "*", "ry": "*", "w": "w", "y": "j", "v": "v",
    "sil": SILENCE, "pau": SILENCE,
}
_BILABIAL = {"p", "b", "m", "py", "by", "my"}
TRAINING_VOICE = Path("/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice")


def available() -> bool:
    try:
        import pyopenjtalk  # noqa: F401
    except ImportError:
        return False
    return True


def phone_of(label: str) -> str:
    """The current phone of a full-context label ("sil^m-a+e=n/A:..." -> "a")."""
    return label.split("/", 1)[0].split("-", 1)[1].split("+", 1)[0]


def to_espeak(phones: list[str]) -> list[str]:
    """Open JTalk phones in context -> espeak mnemonics.

    The moraic nasal N takes the place of the next consonant ([m] before p/b/m: "sanpo" is
    [sampo], lips shut); the geminate closure "cl" is the closure of the next consonant.
    """
    out = []
    for i, ph in enumerate(phones):
        nxt = phones[i + 1] if i + 1 < len(phones) else "sil"
        if ph == "N":
            out.append("m" if nxt in _BILABIAL else "N" if nxt in ("sil", "pau") else "n")
        elif ph == "cl":
            out.append(_PHONES.get(nxt, "t") if nxt not in ("sil", "pau") else SILENCE)
        else:
            out.append(_PHONES.get(ph, "t"))
    return out


def training_voice_available() -> bool:
    return available() and TRAINING_VOICE.is_file()


def synthesize(text: str, half_tone: float = 0.0, voice: Path | None = None) -> Utterance:
    """Speak Japanese `text` -> audio and phonemes, with the bundled voice (48 kHz) or the
    `.htsvoice` file `voice` (at its own rate)."""
    try:
        import pyopenjtalk
    except ImportError as exc:
        raise MediaError("pyopenjtalk-plus is not installed") from exc
    labels = [str(x) for x in pyopenjtalk.extract_fullcontext(text)]
    if voice is None:
        def speak(part: list[str]) -> tuple[np.ndarray, int]:
            wave, rate = pyopenjtalk.synthesize(part, half_tone=half_tone)
            return np.asarray(wave), int(rate)
    else:
        engine = _engine(str(voice))

        def speak(part: list[str]) -> tuple[np.ndarray, int]:
            engine.set_speed(1.0)
            engine.add_half_tone(half_tone)
            return np.asarray(engine.synthesize(part)), int(engine.get_sampling_frequency())
    wave, rate = speak(labels)
    lengths = [len(speak([lab])[0]) for lab in labels]
    if sum(lengths) != len(wave):
        raise MediaError("Open JTalk phone durations do not add up to the utterance")
    # The HTS output is on a 16-bit scale and can overshoot it; scale down rather than clip.
    audio = np.asarray(wave, np.float64) / 32768.0
    audio /= max(1.0, float(np.abs(audio).max()) / 0.9)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) / rate
    phonemes: list[Phoneme] = []
    for symbol, start in zip(to_espeak([phone_of(lab) for lab in labels]), starts, strict=True):
        if phonemes and phonemes[-1].symbol == symbol == SILENCE:
            continue
        phonemes.append(Phoneme(symbol, float(start)))
    return Utterance(audio.astype(np.float32), int(rate), phonemes)


_ENGINES: dict[str, object] = {}


def _engine(voice: str) -> Any:
    """One HTS engine per voice file (loading one reads the whole model)."""
    if voice not in _ENGINES:
        from pyopenjtalk.htsengine import HTSEngine

        if not Path(voice).is_file():
            raise MediaError(f"no HTS voice at {voice}")
        _ENGINES[voice] = HTSEngine(voice.encode())
    return _ENGINES[voice]
