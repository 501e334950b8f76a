"""The runtime mouth model: predictions on held-out speech, chunking, batching, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.engine.engine_errors import MediaError, ModelError, SilentAudio
from services.engine.media import features
from services.engine.mouth import phone_posteriors, visemes
from services.engine.mouth.mouth_model import CORE, WINDOW, MouthModel, window_starts
from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH, OnnxBackend
from services.engine.mouth.visemes import Viseme
from services.engine.training import data, metrics
from services.engine.training.net import lookahead_frames


@pytest.fixture(scope="module")
def model() -> MouthModel:
    return MouthModel()


@pytest.fixture(scope="module")
def heldout() -> list[data.LabelledUtterance]:
    # A seed the training report does not use, so these combinations are fresh.
    return data.heldout_utterances(3, seed=11)


def _truth(lu: data.LabelledUtterance) -> tuple[np.ndarray, np.ndarray]:
    u = lu.utterance
    return (visemes.openness_track(u.phonemes, u.duration),
            visemes.viseme_track(u.phonemes, u.duration))


def test_heldout_speech_is_unseen_in_training(heldout: list[data.LabelledUtterance]) -> None:
    for lu in heldout:
        assert lu.voice in data.HELD_OUT_VOICES and lu.voice not in data.ENGLISH_TRAIN_VOICES
        assert lu.rate in data.HELD_OUT_RATES and lu.rate not in data.TRAIN_RATES
        assert lu.spec.variant is None or lu.spec.variant not in data.train_variants()


def test_openness_follows_the_phonemes(model: MouthModel,
                                       heldout: list[data.LabelledUtterance]) -> None:
    for lu in heldout:
        u = lu.utterance
        track = model.predict(u.audio, u.sample_rate)
        truth, labels = _truth(lu)
        assert track.shapes.shape == (round(u.duration * 25), 3)
        assert metrics.pearson(track.openness, truth) > 0.5, lu.text
        assert track.openness[labels == Viseme.BILABIAL].mean() < 0.15, lu.text
        assert track.openness[labels == Viseme.SILENCE].mean() < 0.1, lu.text


def test_output_ranges(model: MouthModel, heldout: list[data.LabelledUtterance]) -> None:
    u = heldout[0].utterance
    track = model.predict(u.audio, u.sample_rate)
    assert track.shapes.dtype == np.float32
    assert track.shapes.min() >= 0.0 and track.shapes.max() <= 1.0
    assert track.visemes.shape == (len(track), visemes.N_VISEMES)
    np.testing.assert_allclose(track.visemes.sum(axis=1), 1.0, atol=1e-5)


def test_chunked_equals_unchunked(model: MouthModel,
                                  heldout: list[data.LabelledUtterance]) -> None:
    u = heldout[0].utterance
    gap = np.zeros(int(0.3 * u.sample_rate), np.float32)
    long_audio = np.concatenate([lu.utterance.audio for lu in heldout] * 3 + [gap])
    assert len(long_audio) / u.sample_rate * 100 > 2 * WINDOW  # several windows
    chunked = model.predict(long_audio, u.sample_rate)
    whole = model.predict(long_audio, u.sample_rate, chunked=False)
    assert np.abs(chunked.shapes - whole.shapes).max() < 1e-4
    assert np.abs(chunked.visemes - whole.visemes).max() < 1e-4


def test_batch_invariance() -> None:
    backend = OnnxBackend()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, WINDOW, phone_posteriors.N_FEATURES)) * 3 - 3).astype(np.float32)
    shapes, logits = backend.infer(x)
    for i in range(3):
        s, v = backend.infer(x[i : i + 1])
        assert np.abs(s[0] - shapes[i]).max() < 1e-5
        assert np.abs(v[0] - logits[i]).max() < 1e-4


class _MeanBackend:
    """A stand-in model with no context: output frame j = mean of input frames 4j..4j+3."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def infer(self, feature_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(feature_batch.shape)
        b, t, f = feature_batch.shape
        pooled = feature_batch.reshape(b, t // 4, 4, f).mean(axis=2)
        return pooled[:, :, :3], pooled[:, :, :visemes.N_VISEMES]


def test_windows_are_batched_in_one_call_and_stitched_in_order() -> None:
    backend = _MeanBackend()
    mm = MouthModel(backend=backend)
    rng = np.random.default_rng(3)
    audio = rng.standard_normal(25 * 16000).astype(np.float32) * 0.1
    track = mm.predict(audio, 16000)
    assert len(backend.calls) == 1 and backend.calls[0][0] == len(window_starts(2504))
    assert all(shape[1] == WINDOW for shape in backend.calls)
    reference = MouthModel(backend=_MeanBackend()).predict(audio, 16000, chunked=False)
    np.testing.assert_allclose(track.shapes, reference.shapes, atol=1e-6)
    assert len(track) == 25 * 25


def test_a_frame_needs_at_most_200_ms_of_future_audio(
        model: MouthModel, heldout: list[data.LabelledUtterance]) -> None:
    """What a live stream relies on: changing audio more than 200 ms after a frame's time
    leaves that frame (and every earlier one) as it was."""
    u = heldout[0].utterance
    audio = features.resample(u.audio, u.sample_rate, 16000)
    base = model.predict(audio, 16000, chunked=False)
    frame = len(base) // 2
    frame_time = (frame + 0.5) / 25
    # A feature frame reads half its window (12.8 ms) around its centre.
    cut = int((frame_time + 0.2 + phone_posteriors.FRAME / 2 / 16000) * 16000) + 1
    changed = audio.copy()
    changed[cut:] = np.random.default_rng(1).standard_normal(len(audio) - cut) * 0.3
    other = model.predict(changed, 16000, chunked=False)
    assert np.abs(other.shapes[: frame + 1] - base.shapes[: frame + 1]).max() < 1e-5
    assert np.abs(other.shapes[frame + 8 :] - base.shapes[frame + 8 :]).max() > 1e-3
    assert (lookahead_frames() + phone_posteriors.LOOKAHEAD_FRAMES) * 10 <= 200


def test_window_starts_cover_everything() -> None:
    for n in (4, WINDOW, WINDOW + 4, 2 * CORE + 100, 10_000):
        n -= n % 4
        starts = window_starts(n)
        assert all(s % 4 == 0 and s >= 0 and (s + WINDOW <= n or len(starts) == 1) for s in starts)


def test_other_rates_int16_and_stereo(model: MouthModel,
                                      heldout: list[data.LabelledUtterance]) -> None:
    u = heldout[1].utterance
    base = model.predict(u.audio, u.sample_rate)
    at48k = features.resample(u.audio, u.sample_rate, 48000)
    assert len(model.predict(at48k, 48000)) == round(len(at48k) / 48000 * 25)
    pcm = (u.audio * 32767).astype(np.int16)
    assert np.abs(model.predict(pcm, u.sample_rate).shapes - base.shapes).max() < 0.05
    stereo = np.stack([u.audio, u.audio], axis=1)
    assert np.abs(model.predict(stereo, u.sample_rate).shapes - base.shapes).max() < 1e-5


def test_silent_and_invalid_audio(model: MouthModel) -> None:
    with pytest.raises(SilentAudio):
        model.predict(np.zeros(16000, np.float32), 16000)
    with pytest.raises(SilentAudio):
        model.predict(np.zeros(0, np.float32), 16000)
    with pytest.raises(MediaError):
        model.predict(np.full(100, np.nan, np.float32), 16000)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        MouthModel(tmp_path / "nope.onnx")
    assert DEFAULT_MODEL_PATH.name == "model.onnx"
