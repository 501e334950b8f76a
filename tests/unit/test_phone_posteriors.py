"""The phonetic front end: pocketsphinx's acoustic model read right, posteriors that name sounds."""

from __future__ import annotations

import numpy as np
import pytest

from services.engine.media import features, speech
from services.engine.mouth import phone_posteriors, sphinx_acoustics


@pytest.fixture(scope="module")
def model() -> sphinx_acoustics.CiPhoneModel:
    return sphinx_acoustics.load()


def test_model_files_parse_into_consistent_arrays(model: sphinx_acoustics.CiPhoneModel) -> None:
    assert len(model.phones) == phone_posteriors.N_PHONES
    assert {"M", "B", "P", "AA", "IY", "SIL"} <= set(model.phones)
    assert model.means.shape == (42, 3, 128, 13) and model.variances.shape == model.means.shape
    assert (model.variances > 0).all() and np.isfinite(model.means).all()
    # 8-bit weights of each state's mixture still sum to about one after quantisation.
    sums = np.exp(model.log_weights).sum(-1)
    assert sums.min() > 0.85 and sums.max() < 1.05


def test_feature_layout_and_framing() -> None:
    audio = (np.random.default_rng(0).standard_normal(16000) * 0.05).astype(np.float32)
    feats = phone_posteriors.phonetic_features(audio)
    assert feats.shape == (features.n_mel_frames(16000), phone_posteriors.N_FEATURES)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    log_post = feats[:, : phone_posteriors.N_PHONES]
    assert log_post.max() <= 0.0 and log_post.min() >= phone_posteriors.LOG_POSTERIOR_FLOOR
    # Posteriors over phones sum to one (up to the floor).
    assert np.allclose(np.exp(log_post).sum(axis=1), 1.0, atol=0.02)


def test_bilabial_posteriors_peak_on_bilabials(model: sphinx_acoustics.CiPhoneModel) -> None:
    """On speech the model never saw labelled, p/b/m frames carry more bilabial posterior than
    open-vowel frames: the acoustic model recognises sounds, not a voice."""
    utt = speech.synthesize("Mamma made my baby a bumper pumpkin pie.", "en-us", 150, 50, None)
    audio = features.resample(utt.audio, utt.sample_rate, features.SAMPLE_RATE)
    feats = phone_posteriors.phonetic_features(audio)
    bilabial = np.exp(feats[:, [model.index(p) for p in ("M", "B", "P")]]).sum(axis=1)
    on_bilabial, on_open = [], []
    ends = [p.start for p in utt.phonemes[1:]] + [utt.duration]
    for p, end in zip(utt.phonemes, ends, strict=True):
        frames = bilabial[int(p.start * 100) : int(end * 100) + 1]
        if not len(frames):
            continue
        if p.symbol[:1] in "pbm":
            on_bilabial.append(frames.max())
        elif p.symbol[:1] in "aA":
            on_open.append(frames.max())
    assert len(on_bilabial) >= 6 and on_open
    assert np.median(on_bilabial) > 1.4 * np.median(on_open)


def test_running_normalisation_needs_no_future() -> None:
    audio = (np.random.default_rng(1).standard_normal(32000) * 0.05).astype(np.float32)
    base = phone_posteriors.phonetic_features(audio)
    changed = audio.copy()
    changed[16000:] *= 4.0  # louder from 1 s on
    other = phone_posteriors.phonetic_features(changed)
    # Frame i's window ends 205 samples after its centre; deltas read 3 frames further.
    last_same = (16000 - phone_posteriors.FRAME // 2) // features.HOP - 1
    last_same -= phone_posteriors.LOOKAHEAD_FRAMES
    assert np.abs(other[:last_same] - base[:last_same]).max() < 1e-4
    assert np.abs(other[110:] - base[110:]).max() > 1e-2


def test_level_is_normalised_away() -> None:
    utt = speech.synthesize("Bob bought a map.", "en-us", 160, 50, None)
    audio = features.resample(utt.audio, utt.sample_rate, features.SAMPLE_RATE)
    loud = phone_posteriors.phonetic_features(audio)
    quiet = phone_posteriors.phonetic_features(audio * 0.05)
    post = slice(0, phone_posteriors.N_PHONES)
    agree = (loud[:, post].argmax(1) == quiet[:, post].argmax(1)).mean()
    assert agree > 0.7
