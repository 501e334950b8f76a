"""espeak-ng synthesis through ctypes: audio, phoneme timings, voices, thread safety."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from services.engine.engine_errors import InputError
from services.engine.media import speech
from services.engine.media.speech import SILENCE, Phoneme, Utterance


@pytest.fixture(scope="module")
def bob() -> Utterance:
    return speech.synthesize("Bob bought a map.")


def _segments(utt: Utterance) -> list[tuple[str, float, float]]:
    ph = utt.phonemes
    ends = [p.start for p in ph[1:]] + [utt.duration]
    return [(p.symbol, p.start, e) for p, e in zip(ph, ends, strict=True)]


def test_audio_is_float_mono_at_espeak_rate(bob: Utterance) -> None:
    assert bob.sample_rate == 22050
    assert bob.audio.dtype == np.float32 and bob.audio.ndim == 1
    assert 0.05 < float(np.abs(bob.audio).max()) <= 1.0
    assert bob.duration == pytest.approx(len(bob.audio) / 22050)
    assert 0.8 < bob.duration < 3.0


def test_track_covers_the_utterance_with_silence_at_both_ends(bob: Utterance) -> None:
    ph = bob.phonemes
    assert ph[0] == Phoneme(SILENCE, 0.0)
    assert ph[-1].symbol == SILENCE  # espeak's end pause
    starts = [p.start for p in ph]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert starts[-1] < bob.duration
    assert all("'" not in p.symbol and "," not in p.symbol for p in ph)  # stress removed


def test_bilabials_of_bob_bought_a_map_at_plausible_times(bob: Utterance) -> None:
    segs = _segments(bob)
    symbols = [s for s, _, _ in segs]
    assert symbols.count("b") >= 3 and "m" in symbols and "p" in symbols
    first_b = next(s for s in segs if s[0] == "b")
    assert first_b[1] < 0.1  # "Bob" starts at once
    m = next(s for s in segs if s[0] == "m")
    p = next(s for s in segs if s[0] == "p")
    speech_end = segs[-1][1]
    assert 0.4 * speech_end < m[1] < p[1] < speech_end  # "map" is the last word
    # The closure of /p/ belongs to /p/: it starts in digital silence before the release.
    rate = bob.sample_rate
    head = bob.audio[int(p[1] * rate) : int(p[1] * rate) + int(0.015 * rate)]
    assert np.abs(head).max() < 1e-3


def test_silence_segments_are_quiet(bob: Utterance) -> None:
    rate = bob.sample_rate
    for sym, start, end in _segments(bob):
        if sym == SILENCE and end - start > 0.05:
            inner = bob.audio[int((start + 0.01) * rate) : int((end - 0.01) * rate)]
            assert float(np.abs(inner).max(initial=0.0)) < 0.02


def test_rate_pitch_and_variant_change_the_speech() -> None:
    slow = speech.synthesize("Please pass the paper.", rate=110)
    fast = speech.synthesize("Please pass the paper.", rate=260)
    assert fast.duration < 0.75 * slow.duration
    female = speech.synthesize("Please pass the paper.", variant="f3")
    low = speech.synthesize("Please pass the paper.", pitch=20)
    base = speech.synthesize("Please pass the paper.")
    n = min(len(female.audio), len(base.audio), len(low.audio))
    assert not np.allclose(female.audio[:n], base.audio[:n])
    assert not np.allclose(low.audio[:n], base.audio[:n])


def test_other_languages_give_phonemes() -> None:
    utt = speech.synthesize("papa mama", voice="de")
    symbols = [p.symbol for p in utt.phonemes]
    assert symbols.count("p") == 2 and symbols.count("m") == 2
    assert not any(s.startswith("(") for s in symbols)  # language-switch markers dropped


def test_voices_and_variants() -> None:
    english = speech.voices("en")
    assert "en-us" in english and all(v.startswith("en") for v in english)
    assert len(speech.voices()) > 100
    assert {"f3", "m2"} <= set(speech.variants())


def test_unknown_voice_is_an_error() -> None:
    with pytest.raises(InputError):
        speech.synthesize("hello", voice="no-such-voice")


def test_concurrent_calls_do_not_mix() -> None:
    # espeak carries its glottal phase from call to call, so audio can differ by a pitch period
    # with call order; what must hold is that concurrent calls never see each other's data.
    texts = ["one two three", "Bob bought a map.", "purple pebbles", "May I come in?"] * 2
    expected = [speech.synthesize(t) for t in texts]
    got: dict[int, Utterance] = {}

    def work(i: int) -> None:
        got[i] = speech.synthesize(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, utt in enumerate(expected):
        assert [p.symbol for p in got[i].phonemes] == [p.symbol for p in utt.phonemes]
        assert abs(got[i].duration - utt.duration) < 0.05


def test_same_call_sequence_gives_the_same_audio() -> None:
    import subprocess
    import sys

    code = ("import hashlib; from services.engine.media import speech as s; "
            "print(hashlib.sha1(b''.join(s.synthesize(t).audio.tobytes() "
            "for t in ('one', 'two three'))).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1


def test_isolated_synthesis_does_not_depend_on_earlier_calls() -> None:
    first = speech.synthesize_isolated("Hello there, my friend.", variant="f1")
    speech.synthesize("Something else entirely, spoken faster.", voice="en", variant="m3", rate=220)
    again = speech.synthesize_isolated("Hello there, my friend.", variant="f1")
    assert np.array_equal(first.audio, again.audio)
    assert first.phonemes == again.phonemes


def test_save_wav_round_trip(tmp_path: Path, bob: Utterance) -> None:
    path = tmp_path / "bob.wav"
    speech.save_wav(path, bob.audio, bob.sample_rate)
    with wave.open(str(path)) as wf:
        assert (wf.getnchannels(), wf.getsampwidth(), wf.getframerate()) == (1, 2, 22050)
        pcm = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
    np.testing.assert_allclose(pcm / 32767.0, bob.audio, atol=1e-4)


def test_clean_symbol() -> None:
    assert speech.clean_symbol("'a:") == "a:"
    assert speech.clean_symbol(",O") == "O"
    assert speech.clean_symbol("_:") == SILENCE
    assert speech.clean_symbol("_!") == SILENCE
