"""The live path of the engine: incremental mouth shapes equal the batch ones, need bounded
future audio, close the mouth when the audio stops; the live face draws frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.devtools import samples
from services.engine.media import features, speech
from services.engine.mouth import phone_posteriors
from services.engine.mouth.mouth_model import MouthModel
from services.engine.mouth.mouth_stream import MouthStream, needed_samples
from services.engine.mouth.mouth_track import rest_shapes, shapes_for_render
from services.engine.render.streaming import LiveFace
from services.engine.render.style import Style


@pytest.fixture(scope="module")
def model() -> MouthModel:
    return MouthModel()


def _speech16k(text: str) -> np.ndarray:
    u = speech.synthesize(text)
    return features.resample(u.audio, u.sample_rate, features.SAMPLE_RATE)


def test_stream_equals_the_whole_recording_run(model: MouthModel) -> None:
    # Longer than the running cepstral mean's 3 s, pushed in uneven packets.
    audio = np.concatenate([_speech16k("The quick brown fox jumps over the lazy dog, twice.")] * 3)
    whole = model.predict(audio, features.SAMPLE_RATE, chunked=False)
    drawn = shapes_for_render(whole.shapes, whole.visemes, causal=True)
    stream = MouthStream(model)
    steps = []
    rng = np.random.default_rng(0)
    i = 0
    while i < audio.size:
        n = int(rng.integers(80, 2000))
        stream.push(audio[i:i + n])
        i += n
        steps += stream.ready()
    assert [s.index for s in steps] == list(range(len(steps)))
    assert len(steps) >= len(whole) - 8  # all but the last frames' future
    got = np.stack([s.shape for s in steps])
    np.testing.assert_allclose(got, drawn[: len(steps)], atol=1e-4)
    np.testing.assert_allclose(np.stack([s.visemes for s in steps]), whole.visemes[: len(steps)],
                               atol=1e-3)  # float sums in another order
    # History is trimmed: memory stays flat however long the stream runs.
    assert stream._audio.size < 4 * features.SAMPLE_RATE


def test_a_frame_waits_for_at_most_240_ms_past_its_end() -> None:
    for frame in (0, 1, 10, 1000):
        frame_end = (frame + 1) * 640  # samples at 16 kHz
        wait_ms = (needed_samples(frame) - frame_end) / 16
        # 30 ms (deltas) + 160 ms (network) + half an analysis window, and never less.
        assert 190 <= wait_ms <= 195
    assert phone_posteriors.LOOKAHEAD_FRAMES == 3


def test_frames_come_exactly_when_their_audio_is_there(model: MouthModel) -> None:
    stream = MouthStream(model)
    audio = _speech16k("Hello")
    stream.push(audio[: needed_samples(5) - 1])
    assert [s.index for s in stream.ready()] == [0, 1, 2, 3, 4]
    stream.push(audio[needed_samples(5) - 1 : needed_samples(5)])
    assert [s.index for s in stream.ready()] == [5]


def test_mouth_closes_within_two_frames_when_the_audio_stops(model: MouthModel) -> None:
    for text in ("Hello there, how are you today", "I want a banana", "Look at the sea"):
        audio = _speech16k(text)
        end = int(np.nonzero(np.abs(audio) > 0.01)[0][-1]) + 1
        stream = MouthStream(model)
        stream.push(np.concatenate([audio[:end], np.zeros(features.SAMPLE_RATE, np.float32)]))
        opening = np.array([s.shape[0] for s in stream.ready()])
        first_silent = int(np.ceil(end / features.SAMPLE_RATE * 25))
        assert opening[: first_silent].max() > 0.2, text  # it did speak
        assert np.all(opening[first_silent + 2 :] < 0.02), text


def test_live_face_draws_idle_and_speaking_frames(tmp_path: Path) -> None:
    image = samples.save_image(tmp_path / "face.png", samples.astronaut())
    face = LiveFace.from_image(image, "480p", Style(), seed=3, frames=250)
    assert face.size[1] == 480
    rest = rest_shapes(1)[0]
    wide = rest.copy()
    wide[0] = 0.8
    first = face.draw(0, face.styled(rest))
    assert np.abs(first.astype(int) - face.portrait.picture).mean() < 1.0  # the photo, at rest
    spoken = face.draw(1, face.styled(wide))
    assert spoken.shape == first.shape and np.abs(spoken.astype(int) - first).max() > 40
    # Idle: with the mouth at rest, the face still moves (sway, blinks) over a few seconds.
    idle = [face.draw(i, face.styled(rest)) for i in range(2, 150, 20)]
    assert max(np.abs(f.astype(int) - first).mean() for f in idle) > 0.05
    assert face.draw(2, face.styled(rest)) is not face.draw(2, face.styled(rest))  # fresh arrays
