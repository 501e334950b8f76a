"""Speech synthesis with exact phoneme timings: espeak-ng driven through ctypes.

The `espeakng-loader` wheel bundles libespeak-ng and its data, so no system package is needed.
espeak-ng keeps global state (one voice, one callback), so every call holds one lock.

Timing facts measured on espeak-ng 1.52 (they shape `_align_stop_closures` below):
- phoneme events carry the start as `audio_position` (ms, truncated) and `sample` (the absolute
  output sample index); the sample index is the precise one;
- the silent closure of a plosive is emitted *before* the plosive's event, at the tail of the
  previous phoneme, so the event marks the release. Lips are shut during a /p b/ closure, so the
  closure must belong to the plosive for a mouth-shape target to be right;
- espeak carries state (its glottal phase) from one call to the next, even across
  Terminate/Initialize, so the same text can come out a pitch period longer or shorter depending
  on what was spoken before. A given sequence of calls in a fresh process is reproducible, and the
  phoneme track always matches the audio it comes with.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import threading
import wave
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.engine.engine_errors import InputError, ModelError

SILENCE = "_"
# Marks espeak puts before a phoneme name: stress (' ,), syllabic (=) and unstressed (%).
_STRESS_MARKS = "',%="
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_EVENT_SAMPLERATE = 8
_PARAM_RATE = 1
_PARAM_PITCH = 3
_MAX_CLOSURE_S = 0.15  # longest silent stretch still taken as a plosive's closure
_MIN_CLOSURE_S = 0.008
_BURST_S = 0.015  # a release burst; the lips are apart from then on


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: espeak's mnemonic (stress marks removed; "_" is silence) and its start."""

    symbol: str
    start: float  # seconds


@dataclass
class Utterance:
    """Synthesized speech and its phoneme track; each phoneme ends where the next starts."""

    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    phonemes: list[Phoneme] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


# --- the C interface (layouts from espeak-ng's speak_lib.h) ---------------------------------


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),  # WORD / SENTENCE / SAMPLERATE events
        ("name", ctypes.c_char_p),  # MARK / PLAY events
        ("string", ctypes.c_char * 8),  # PHONEME events: not NUL-terminated if all 8 are used
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # priority byte + NUL-terminated name, repeated
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Engine:
    """The loaded library plus the buffers its callback fills during one synthesis."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError) as exc:
            raise ModelError(f"cannot load espeak-ng from espeakng-loader: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise ModelError(f"espeak-ng failed to initialise with data at {data_path}")
        self.lib = lib
        self.sample_rate = rate
        # Breathy variants (f2, f3, whisper, ...) draw noise from libc's rand(), which espeak seeds
        # from the clock; reseeding per call makes each call's noise a function of its arguments.
        self._srand = ctypes.CDLL(None).srand
        self._srand.argtypes = [ctypes.c_uint]
        self._srand.restype = None
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []  # (mnemonic, start sample)
        # Keep a reference: espeak holds only the raw function pointer.
        self._callback = _Callback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav: ctypes._Pointer, n: int, events: ctypes._Pointer) -> int:
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                raw = bytes(ev.id.string).split(b"\0", 1)[0]
                self.events.append((raw.decode("utf-8", "replace"), ev.sample))
            elif ev.type == _EVENT_SAMPLERATE and ev.id.number > 0:
                self.sample_rate = ev.id.number
            i += 1
        return 0

    def seed(self, value: int) -> None:
        self._srand(value & 0xFFFFFFFF)

    def list_voices(self, spec: _Voice | None) -> list[_Voice]:
        ptr = self.lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        out: list[_Voice] = []
        i = 0
        while ptr[i]:
            out.append(ptr[i].contents)
            i += 1
        return out


_lock = threading.Lock()
_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


# --- public API ---------------------------------------------------------------------------


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 170,
    pitch: int = 50,
    variant: str | None = None,
) -> Utterance:
    """Speak `text` and return the audio with a phoneme track covering all of it.

    `voice` is a language/voice name from `voices()`, `variant` a name from `variants()`
    ("f3" -> "en-us+f3"), `rate` in words per minute (80-450), `pitch` 0-100.
    """
    name = f"{voice}+{variant}" if variant else voice
    with _lock:
        eng = _get_engine()
        if eng.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise InputError(f"espeak-ng has no voice {name!r}; see speech.voices() and variants()")
        eng.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        eng.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        eng.chunks, eng.events = [], []
        data = text.encode("utf-8")
        eng.seed(zlib.crc32(f"{name}|{rate}|{pitch}|".encode() + data))
        err = eng.lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
        )
        if err != 0:
            raise ModelError(f"espeak-ng synthesis failed with code {err}")
        pcm = np.concatenate(eng.chunks) if eng.chunks else np.zeros(0, np.int16)
        events, sample_rate = eng.events, eng.sample_rate
        eng.chunks, eng.events = [], []
    audio = (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)
    phonemes = _phoneme_track(events, audio, sample_rate)
    return Utterance(audio=audio, sample_rate=sample_rate, phonemes=phonemes)


_isolated: ProcessPoolExecutor | None = None


def synthesize_isolated(text: str, voice: str = "en-us", rate: int = 170, pitch: int = 50,
                        variant: str | None = None) -> Utterance:
    """`synthesize` in a new process that has spoken nothing before, so the audio is a function
    of the arguments alone, whatever this process synthesised earlier (espeak's carried-over
    glottal phase, see above): for samples that tests and benchmarks must get the same each
    time. Each call forks from a forkserver that has this module imported: tens of ms more."""
    global _isolated
    with _lock:
        if _isolated is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            _isolated = ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1)
        pool = _isolated
    return pool.submit(synthesize, text, voice, rate, pitch, variant).result()


def voices(language_prefix: str = "") -> list[str]:
    """Voice names usable in `synthesize` (their language codes), e.g. "en-us", "de"."""
    with _lock:
        found = _get_engine().list_voices(None)
        names = {_voice_name(v) for v in found}
    names.discard("")
    return sorted(n for n in names if n.startswith(language_prefix.lower()))


def variants() -> list[str]:
    """Voice variants ("f3", "m2", "klatt", ...) that can be appended to any voice."""
    spec = _Voice()
    spec.languages = ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p).value
    with _lock:
        found = _get_engine().list_voices(spec)
        ids = [(v.identifier or b"").decode() for v in found]
    return sorted(i.split("/", 1)[1] for i in ids if i.startswith("!v/"))


def save_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM."""
    pcm = (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(int(sample_rate))
        wf.writeframes(pcm.tobytes())


# --- helpers ------------------------------------------------------------------------------


def _voice_name(v: _Voice) -> str:
    """A voice's file name, which `espeak_SetVoiceByName` accepts ("gmw/en-US" -> "en-us")."""
    ident = (v.identifier or b"").decode("utf-8", "replace")
    if not ident or ident.startswith(("mb/", "!v/")):  # MBROLA needs extra data; variants
        return ""
    return ident.rsplit("/", 1)[-1].lower()


def clean_symbol(raw: str) -> str:
    """espeak mnemonic -> phoneme symbol: no stress marks; every pause kind becomes "_"."""
    sym = raw.strip().lstrip(_STRESS_MARKS)
    if not sym or sym.startswith("_") or sym == "||":
        return SILENCE
    return sym


def _phoneme_track(events: list[tuple[str, int]], audio: np.ndarray, rate: int) -> list[Phoneme]:
    """Events -> a track that starts at 0, covers the whole audio and merges repeated silence."""
    n = len(audio)
    starts: list[tuple[str, int]] = [(SILENCE, 0)]
    for raw, sample in events:
        if raw.startswith("("):  # a language switch such as "(en)", not a sound
            continue
        starts.append((clean_symbol(raw), min(max(sample, 0), n)))
    starts = _align_stop_closures(starts, audio, rate)
    track: list[Phoneme] = []
    for i, (sym, s) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else n
        if end <= s:  # zero length: later events at the same sample win
            continue
        if track and track[-1].symbol == sym == SILENCE:
            continue
        track.append(Phoneme(sym, s / rate))
    if not track:
        track.append(Phoneme(SILENCE, 0.0))
    return track


def _is_plosive(sym: str) -> bool:
    # espeak names plosives by their letter, with suffixes such as t2, t#, d#, k', tS, dZ.
    return sym[:1] in "pbtdkgcq" and not sym.startswith(("tS", "dZ"))


def _align_stop_closures(
    starts: list[tuple[str, int]], audio: np.ndarray, rate: int
) -> list[tuple[str, int]]:
    """Give each plosive the silent closure espeak emits just before its event.

    The plosive then spans closure + burst; what follows the burst (aspiration) goes to the next
    phoneme, since the lips already move towards it.
    """
    out = list(starts)
    silent = np.abs(audio) < 1e-4
    max_len, min_len = int(_MAX_CLOSURE_S * rate), int(_MIN_CLOSURE_S * rate)
    slack = int(0.012 * rate)  # the burst can begin a few ms after the event
    burst = int(_BURST_S * rate)
    for i in range(1, len(out)):
        sym, s = out[i]
        prev_sym, prev_s = out[i - 1]
        if not _is_plosive(sym) or prev_sym == SILENCE:
            continue
        # The zero run that ends within `slack` after the event start.
        end = s
        while end < min(s + slack, len(audio)) and silent[end]:
            end += 1
        if end == s and (s == 0 or not silent[s - 1]):
            continue
        begin = s
        floor = max(prev_s, s - max_len)  # a wholly silent predecessor (nl "!") vanishes
        while begin > floor and silent[begin - 1]:
            begin -= 1
        if end - begin < min_len or begin >= s:
            continue
        out[i] = (sym, begin)
        if i + 1 < len(out) and out[i + 1][0] != SILENCE and out[i + 1][1] > end + burst:
            out[i + 1] = (out[i + 1][0], end + burst)
    return out
