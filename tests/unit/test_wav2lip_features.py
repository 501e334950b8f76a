"""The pieces of the Wav2Lip-class render path that need no model: its audio features, the
generator's input layout, and the paste that may change only the lower half of the face."""

from __future__ import annotations

import numpy as np

from services.engine.generators import wav2lip_audio as audio
from services.engine.generators.wav2lip_render import FaceSquare, face_batch, paste


def test_mel_filters_are_unit_area_triangles_between_55_and_7600_hz() -> None:
    bank = audio.mel_filterbank()
    assert bank.shape == (audio.N_MELS, audio.N_FFT // 2 + 1)
    freqs = np.linspace(0, audio.SAMPLE_RATE / 2, audio.N_FFT // 2 + 1)
    assert not bank[:, (freqs < audio.F_MIN) | (freqs > audio.F_MAX)].any()
    peaks = bank.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()
    bin_hz = freqs[1]
    assert np.allclose(bank[40:].sum(axis=1) * bin_hz, 1.0, atol=0.05)  # wide enough to sum


def test_mel_spectrogram_frames_levels_and_pitch() -> None:
    assert audio.mel_spectrogram(np.zeros(16_000, np.float32)).shape == (80, 81)
    assert (audio.mel_spectrogram(np.zeros(3_000, np.float32)) == -audio.MAX_ABS).all()
    t = np.arange(16_000) / audio.SAMPLE_RATE
    mel = audio.mel_spectrogram((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert mel.min() >= -4 and mel.max() <= 4
    centre_band = int(np.argmax(audio.mel_filterbank()[:, round(1000 / 20)]))
    assert abs(int(mel[:, 40].argmax()) - centre_band) <= 1


def test_each_frame_sees_200_ms_centred_on_it() -> None:
    mel = np.arange(200, dtype=np.float32)[None].repeat(80, axis=0)  # column index as value
    windows = audio.frame_windows(mel, 60)
    assert windows.shape == (60, 1, 80, 16)
    for frame in (2, 10, 37):
        first = int(windows[frame, 0, 0, 0])
        assert first == int(np.floor(3.2 * (frame - 2)))
        centre = (first + 7.5) / audio.MEL_FPS
        assert frame / 25 <= centre < (frame + 1) / 25  # while the frame is on screen
    assert (windows[0, 0, :, :7] == -audio.MAX_ABS).all()  # before the audio: silence


def test_face_input_blanks_the_target_lower_half_in_bgr() -> None:
    rng = np.random.default_rng(0)
    target, reference = (rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8) for _ in range(2))
    face = face_batch(target, reference)
    assert face.shape == (2, 6, 96, 96) and face.dtype == np.float32
    assert (face[:, :3, 48:] == 0).all()
    np.testing.assert_allclose(face[:, 0, :48], target[:, :48, :, 2] / 255.0)  # B first
    np.testing.assert_allclose(face[:, 3:], reference[..., ::-1].transpose(0, 3, 1, 2) / 255.0)


def test_paste_changes_only_the_lower_half_even_past_the_edge() -> None:
    rng = np.random.default_rng(1)
    canvas = rng.integers(0, 200, (120, 160, 3), dtype=np.uint8)
    before = canvas.copy()
    square = FaceSquare(x0=100, y0=20, side=90)  # reaches past the right edge
    paste(canvas, square, np.full((96, 96, 3), 255, np.uint8))
    changed = np.any(canvas != before, axis=2)
    x0, y0, x1, y1 = square.lower_half
    region = np.zeros_like(changed)
    region[y0:y1, x0:x1] = True
    assert changed[region].any() and not changed[~region].any()
    assert (canvas[y0 + 22, 125] == 255).all()  # fully inside the feather: the generated pixel
