"""Speaker normalisation of the phonetic front end: warped filterbanks, a warp that follows the
voice's formants, chosen from the past only and the same however the audio is cut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.engine.media import features, speech
from services.engine.mouth import phone_posteriors as pp
from services.engine.mouth import speaker_warp


def _centres(bank: np.ndarray) -> np.ndarray:
    freqs = np.arange(bank.shape[0]) * features.SAMPLE_RATE / pp.N_FFT
    return (bank * freqs[:, None]).sum(0) / bank.sum(0)


def test_a_warp_stretches_the_filters_and_keeps_them_unit_area() -> None:
    plain, wide = pp.filterbank(1.0), pp.filterbank(1.12)
    ratio = _centres(wide)[5:20] / _centres(plain)[5:20]
    assert np.allclose(ratio, 1.12, atol=0.02)
    step = features.SAMPLE_RATE / pp.N_FFT
    assert np.allclose(wide.sum(0) * step, 1.0, atol=0.2)
    assert (wide[-1] == 0).all()  # nothing past Nyquist's edge bin


def _warp_of(audio16k: np.ndarray) -> float:
    feats = pp.deltas(pp.normalize(pp.warped_cepstra(audio16k)))
    choice = speaker_warp.WarpTracker().advance(0, feats, pp.frame_log_likelihoods)
    return speaker_warp.WARPS[int(choice[-1])]


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    text = "We were away a year ago, and now we are all home again in the summer."
    u = speech.synthesize(text, "en-us", 150, 40, None)
    return features.resample(u.audio, u.sample_rate, features.SAMPLE_RATE)


def test_a_voice_with_higher_formants_gets_a_higher_warp(voice: np.ndarray) -> None:
    # Played 15% faster: every formant (and the pitch) 15% higher, like a shorter vocal tract;
    # and 12.5% slower, like a longer one.
    higher = features.resample(voice, 18400, features.SAMPLE_RATE)
    lower = features.resample(voice, 14000, features.SAMPLE_RATE)
    base = _warp_of(voice)
    assert _warp_of(higher) >= base + 0.08
    assert _warp_of(lower) <= base - 0.04


def test_the_warp_waits_for_a_second_of_speech_and_is_the_same_in_pieces(
        voice: np.ndarray) -> None:
    high = features.resample(voice, 18400, features.SAMPLE_RATE)
    feats = pp.deltas(pp.normalize(pp.warped_cepstra(high)))
    whole = speaker_warp.WarpTracker().advance(0, feats, pp.frame_log_likelihoods)
    assert (whole[:100] == speaker_warp.REFERENCE).all()  # under a second: too little to judge
    assert whole[-1] > speaker_warp.REFERENCE
    # Changes only at checkpoints, and fed in uneven pieces it chooses the same.
    changes = np.flatnonzero(np.diff(whole)) + 1
    assert (changes % speaker_warp.CHECK == 0).all()
    tracker = speaker_warp.WarpTracker()
    cuts = [0, 7, 61, 62, 190, 333, feats.shape[1]]
    pieces = [tracker.advance(a, feats[:, a:b], pp.frame_log_likelihoods)
              for a, b in itertools.pairwise(cuts)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
