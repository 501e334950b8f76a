"""The held-out speech families: phone timings parsed and mapped right, and kept out of training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.engine.media.speech import SILENCE, Phoneme
from services.engine.mouth import visemes
from services.engine.mouth.visemes import Viseme
from services.engine.training import data, flite, heldout_families, openjtalk, recordings, text


def test_flite_segments_become_phonemes_with_start_times() -> None:
    phones = flite.parse_segments("pau:0.193 b:0.224 aa:0.435 m:0.5 pau:0.6 pau:0.7 \n")
    assert phones == [Phoneme(SILENCE, 0.0), Phoneme("b", 0.193), Phoneme("A:", 0.224),
                      Phoneme("m", 0.435), Phoneme(SILENCE, 0.5)]


def test_japanese_nasal_and_geminate_take_the_next_consonant_place() -> None:
    # sanpo [sampo], hon [hoN], kitte [kitte], ippai [ippai]
    assert openjtalk.to_espeak(["s", "a", "N", "p", "o"]) == ["s", "a", "m", "p", "o"]
    assert openjtalk.to_espeak(["h", "o", "N", "sil"]) == ["h", "o", "N", "_"]
    assert openjtalk.to_espeak(["k", "i", "cl", "t", "e"]) == ["k", "i", "t", "t", "e"]
    assert openjtalk.to_espeak(["i", "cl", "p", "a", "I"]) == ["i", "p", "p", "a", "i"]
    classes = [visemes.classify(s) for s in openjtalk.to_espeak(["my", "a", "f", "u", "b", "o"])]
    assert classes[0] == classes[4] == Viseme.BILABIAL
    assert classes[2] != Viseme.BILABIAL  # Japanese f is bilabial but the lips do not shut


def test_full_context_label_gives_its_phone() -> None:
    assert openjtalk.phone_of("sil^m-a+e=n/A:0+1+3/B:xx") == "a"


@pytest.mark.skipif(not openjtalk.available(), reason="pyopenjtalk-plus not installed")
@pytest.mark.filterwarnings("ignore:Dictionary.create:DeprecationWarning")  # inside pyopenjtalk
def test_japanese_phone_times_cover_the_audio() -> None:
    utt = openjtalk.synthesize("前の晩、母はパンを買いました。")
    starts = [p.start for p in utt.phonemes]
    assert starts[0] == 0.0 and starts == sorted(starts) and starts[-1] < utt.duration
    assert [p.symbol for p in utt.phonemes[:4]] == [SILENCE, "m", "a", "e"]
    # The audio is loud where the phones are and quiet in the leading and trailing silence.
    lead = utt.audio[: int(utt.phonemes[1].start * utt.sample_rate)]
    assert np.abs(lead).max() < 0.1 * np.abs(utt.audio).max()


def test_sphinx_transcripts_are_read(tmp_path: Path) -> None:
    listing = tmp_path / "t.transcription"
    listing.write_text("<s> ten of clubs  </s> (001)\n<s> go forward </s> (a-b_c)\n")
    assert recordings._transcripts(listing) == {"001": "ten of clubs", "a-b_c": "go forward"}


def test_held_out_voices_and_sentences_stay_out_of_training() -> None:
    trained = set(getattr(data, "FESTIVAL_TRAIN_VOICES", {}))
    assert not trained & {"kal_diphone", "cmu_us_slt_arctic_hts"}
    assert not set(heldout_families.ENGLISH) & set(text.HELD_OUT_SENTENCES)
    names = [f.name for f in heldout_families.FAMILIES]
    assert len(names) == len(set(names))
    assert {f.language for f in heldout_families.FAMILIES} >= {"en", "ja", "ar"}
