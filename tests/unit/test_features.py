"""Resampling and log-mel features (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from services.engine.media import features
from services.engine.media.features import LOG_FLOOR, MEL_FPS, N_MELS, SAMPLE_RATE, VIDEO_FPS


def test_constants() -> None:
    assert (SAMPLE_RATE, MEL_FPS, N_MELS, VIDEO_FPS) == (16000, 100, 64, 25)


def test_log_mel_shape_and_silence_floor() -> None:
    mel = features.log_mel(np.zeros(SAMPLE_RATE, np.float32))
    assert mel.shape == (101, N_MELS) and mel.dtype == np.float32
    assert np.allclose(mel, np.log(LOG_FLOOR))


def test_frames_are_centred_every_10_ms() -> None:
    x = np.zeros(SAMPLE_RATE, np.float32)
    x[8000] = 1.0  # a click at 0.5 s
    energy = features.log_mel(x).sum(axis=1)
    assert int(np.argmax(energy)) == 50


def test_tone_lands_in_the_right_band() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    low = features.log_mel(np.sin(2 * np.pi * 300 * t).astype(np.float32)).mean(axis=0)
    high = features.log_mel(np.sin(2 * np.pi * 3000 * t).astype(np.float32)).mean(axis=0)
    assert int(np.argmax(low)) < int(np.argmax(high))
    # Band centres follow the mel scale: find the band nearest each tone.
    fb = features.mel_filterbank()
    freqs = np.fft.rfftfreq(features.N_FFT, 1 / SAMPLE_RATE)
    centres = freqs[np.argmax(fb, axis=0)]
    assert abs(centres[int(np.argmax(low))] - 300) < 60
    assert abs(centres[int(np.argmax(high))] - 3000) < 250


def test_log_mel_of_ten_seconds_has_a_frame_every_ten_milliseconds() -> None:
    # How fast it is is for bench/, not for a test on a shared machine.
    x = np.random.default_rng(0).standard_normal(10 * SAMPLE_RATE).astype(np.float32) * 0.1
    mel = features.log_mel(x)
    assert mel.shape == (1001, N_MELS) and np.isfinite(mel).all()


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (48000, 16000), (8000, 16000),
                                          (44100, 16000)])
def test_resample_keeps_a_tone(src: int, dst: int) -> None:
    n = src  # one second
    x = np.sin(2 * np.pi * 440 * np.arange(n) / src).astype(np.float32)
    y = features.resample(x, src, dst)
    assert y.dtype == np.float32 and len(y) == -(-n * dst // src)
    expected = np.sin(2 * np.pi * 440 * np.arange(len(y)) / dst)
    inner = slice(dst // 20, -dst // 20)  # away from the edges
    assert np.abs(y[inner] - expected[inner]).max() < 0.01


def test_resample_identity_and_empty() -> None:
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(features.resample(x, 16000, 16000), x)
    assert len(features.resample(np.zeros(0, np.float32), 22050, 16000)) == 0
    with pytest.raises(ValueError):
        features.resample(x, 0, 16000)


def test_blockwise_resampling_matches_one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32) * 0.3
    whole = features.resample(x, 22050, 16000)
    monkeypatch.setattr(features, "_BLOCK_IN", 8192)
    blocks = features.resample(x, 22050, 16000)
    assert len(blocks) == len(whole)
    assert np.abs(blocks - whole).max() < 1e-3
