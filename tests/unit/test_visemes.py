"""Phoneme -> viseme mapping and the per-frame target tracks."""

from __future__ import annotations

import numpy as np
import pytest

from services.engine.media import speech
from services.engine.media.speech import Phoneme
from services.engine.mouth import visemes
from services.engine.mouth.visemes import CLASS_SHAPES, Viseme


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("p", Viseme.BILABIAL), ("b", Viseme.BILABIAL), ("m", Viseme.BILABIAL),
        ("m;", Viseme.BILABIAL), ("_", Viseme.SILENCE), ("_:", Viseme.SILENCE),
        ("f", Viseme.LABIODENTAL), ("v", Viseme.LABIODENTAL),
        ("t", Viseme.DENTAL_ALVEOLAR), ("T", Viseme.DENTAL_ALVEOLAR),
        ("n^", Viseme.DENTAL_ALVEOLAR),
        ("S", Viseme.POSTALVEOLAR), ("tS", Viseme.POSTALVEOLAR), ("dZ", Viseme.POSTALVEOLAR),
        ("k", Viseme.VELAR_GLOTTAL), ("N", Viseme.VELAR_GLOTTAL), ("h", Viseme.VELAR_GLOTTAL),
        ("r", Viseme.R), ("R2", Viseme.R), ("*", Viseme.R),
        ("a", Viseme.OPEN_VOWEL), ("'a:", Viseme.OPEN_VOWEL), ("aI", Viseme.OPEN_VOWEL),
        ("?a", Viseme.OPEN_VOWEL), ("@", Viseme.MID_VOWEL), ("E", Viseme.MID_VOWEL),
        ("i:", Viseme.CLOSE_FRONT), ("I2", Viseme.CLOSE_FRONT), ("j", Viseme.CLOSE_FRONT),
        ("u:", Viseme.ROUNDED), ("oU", Viseme.ROUNDED), ("w", Viseme.ROUNDED),
        ("y", Viseme.ROUNDED),
    ],
)
def test_classify(symbol: str, expected: Viseme) -> None:
    assert visemes.classify(symbol) == expected


def test_unknown_symbols_fall_back_and_are_counted() -> None:
    visemes.UNMAPPED.clear()
    assert visemes.classify("§") == Viseme.DENTAL_ALVEOLAR
    assert visemes.UNMAPPED["§"] == 1


def test_shapes_are_in_range_and_closures_are_exact() -> None:
    for shape in CLASS_SHAPES.values():
        assert all(0.0 <= v <= 1.0 for v in shape)
    assert CLASS_SHAPES[Viseme.BILABIAL].open == 0.0
    assert CLASS_SHAPES[Viseme.SILENCE].open == 0.0
    assert visemes.targets("a")[0].open == 1.0
    assert visemes.targets("i:")[0].width > 0.9 and visemes.targets("u:")[0].round > 0.9


def test_diphthongs_glide_between_two_shapes() -> None:
    start, end = visemes.targets("aI")
    assert start.open > end.open and end.width > start.width
    assert len(visemes.targets("a#")) == 1 and len(visemes.targets("I2")) == 1


TRACK = [Phoneme("_", 0.0), Phoneme("m", 0.2), Phoneme("a", 0.4), Phoneme("p", 0.72),
         Phoneme("i:", 0.84), Phoneme("_", 1.0)]


def test_shape_track_layout_and_closures() -> None:
    shapes = visemes.shape_track(TRACK, 1.3, fps=25)
    assert shapes.shape == (round(1.3 * 25), 3) and shapes.dtype == np.float32
    assert shapes.min() >= 0.0 and shapes.max() <= 1.0
    centres = (np.arange(len(shapes)) + 0.5) / 25
    closed = ((centres >= 0.2) & (centres < 0.4)) | ((centres >= 0.72) & (centres < 0.84))
    silent = (centres < 0.2) | (centres >= 1.0)
    assert (shapes[closed | silent, 0] == 0.0).all()
    vowel = (centres > 0.5) & (centres < 0.62)
    assert (shapes[vowel, 0] > 0.7).all()


def test_coarticulation_smooths_onsets() -> None:
    shapes = visemes.shape_track(TRACK, 1.3, fps=25)
    open_ = shapes[:, 0]
    # The first vowel frame after /m/ has not yet reached the full opening.
    first_vowel = int(0.4 * 25)
    assert 0.0 < open_[first_vowel] < open_[first_vowel + 3]


def test_short_bilabial_still_closes_a_frame() -> None:
    # /b/ from 0.425 to 0.455 s holds no frame centre (those are at 0.42 and 0.46 s).
    track = [Phoneme("_", 0.0), Phoneme("a", 0.1), Phoneme("b", 0.425), Phoneme("a", 0.455),
             Phoneme("_", 0.8)]
    shapes = visemes.shape_track(track, 1.0)
    labels = visemes.viseme_track(track, 1.0)
    t = int(0.44 * 25)
    assert shapes[t, 0] == 0.0 and labels[t] == Viseme.BILABIAL


def test_viseme_and_openness_tracks_agree_with_shape_track() -> None:
    labels = visemes.viseme_track(TRACK, 1.3)
    assert labels.shape == (round(1.3 * 25),)
    centres = (np.arange(len(labels)) + 0.5) / 25
    assert (labels[(centres > 0.45) & (centres < 0.7)] == Viseme.OPEN_VOWEL).all()
    assert (labels[(centres >= 0.2) & (centres < 0.4)] == Viseme.BILABIAL).all()
    np.testing.assert_array_equal(visemes.openness_track(TRACK, 1.3),
                                  visemes.shape_track(TRACK, 1.3)[:, 0])


def test_real_speech_track() -> None:
    utt = speech.synthesize("Bob bought a map.")
    shapes = visemes.shape_track(utt.phonemes, utt.duration)
    labels = visemes.viseme_track(utt.phonemes, utt.duration)
    assert len(shapes) == len(labels) == round(utt.duration * 25)
    assert (shapes[labels == Viseme.BILABIAL, 0] == 0.0).all()
    assert (labels == Viseme.BILABIAL).sum() >= 4
    assert shapes[:, 0].max() > 0.6
