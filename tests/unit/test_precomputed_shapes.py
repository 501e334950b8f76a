"""Mouth shapes computed before the render (the model-server path) equal the ones the render
computes in-process, for every speech track of a form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.devtools import samples
from services.engine.media import av_io as media
from services.engine.media import speech
from services.engine.mouth.mouth_model import MAX_BATCH
from services.engine.mouth.onnx_backend import OnnxBackend
from services.engine.render import renderer as render
from services.inference.forms import RenderForm
from services.inference.shapes import PrecomputedShapes, precompute


class _AsyncOnnx:
    """The in-process model behind the async interface, counting windows per request."""

    def __init__(self) -> None:
        self.backend = OnnxBackend()
        self.requests: list[int] = []

    async def infer(self, mel_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.requests.append(len(mel_batch))
        return self.backend.infer(mel_batch)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    said = samples.save_speech(folder / "left.wav", "Mop the bump, Bob.")
    # Over 8 s, so the long track takes several windows.
    speech.save_wav(folder / "right.wav", np.tile(said.audio, 8), said.sample_rate)
    speech.save_wav(folder / "silent.wav", np.zeros(16_000, np.float32), 16_000)
    return {"left_audio": folder / "left.wav", "right_audio": folder / "right.wav",
            "silent": folder / "silent.wav"}


async def test_every_track_of_a_multi_form_matches_the_in_process_shapes(tracks: dict[str, Path]) -> None:
    model = _AsyncOnnx()
    form = RenderForm("lipsync-image-multi", {"image": "x", "left_audio": "x", "right_audio": "x"})
    paths = {"image": Path("unused.png"), "left_audio": tracks["left_audio"],
             "right_audio": tracks["right_audio"]}
    source = await precompute(model, form, paths, media.DEFAULT_LIMITS)
    assert len(source) == 2
    assert len(model.requests) == 2 and max(model.requests) > 1  # one request per track here
    assert all(n <= MAX_BATCH for n in model.requests)
    for name in ("left_audio", "right_audio"):
        audio = media.load_audio(tracks[name], media.OUTPUT_AUDIO_RATE)
        frames = round(audio.size / media.OUTPUT_AUDIO_RATE * media.FPS)
        for wanted in (frames, frames - 7, frames + 9):  # the render may ask for fewer or more
            np.testing.assert_allclose(source(audio, wanted), render.model_shapes(audio, wanted),
                                       rtol=0, atol=1e-6)


async def test_silent_tracks_are_left_to_the_render_to_refuse(tracks: dict[str, Path]) -> None:
    form = RenderForm("lipsync-image", {"image": "x", "audio": "x"})
    source = await precompute(_AsyncOnnx(), form, {"audio": tracks["silent"]}, media.DEFAULT_LIMITS)
    assert len(source) == 0


def test_speech_nobody_computed_is_a_bug_not_silence() -> None:
    source = PrecomputedShapes()
    source.add(np.ones(48_000, np.float32), np.zeros((25, 3), np.float32))
    assert source(np.ones(48_000, np.float32), 25).shape == (25, 3)
    with pytest.raises(LookupError):
        source(np.full(48_000, 0.5, np.float32), 25)
