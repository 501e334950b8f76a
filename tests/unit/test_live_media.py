"""The live session's media pieces: 48 -> 16 kHz aligned to the sample, frames stamped on the
audio clock, the timeline that hands out each frame's audio once and dates sounds' arrival."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.devtools import samples
from services.engine.mouth.mouth_model import MouthModel
from services.engine.render.streaming import LiveFace
from services.engine.render.style import Style
from services.live.downsample import Downsampler
from services.live.media import FRAME_SAMPLES, LiveMedia, samples_for_frame
from services.live.tracks import audio_frame, to_mono, video_frame


def test_downsampling_keeps_the_timeline_to_the_sample() -> None:
    t = np.arange(48_000 * 2) / 48_000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    down, parts, i = Downsampler(), [], 0
    rng = np.random.default_rng(0)
    while i < x.size:  # packets of any size
        n = int(rng.integers(1, 2000))
        parts.append(down.push(x[i:i + n]))
        i += n
    y = np.concatenate(parts)
    assert y.size == x.size // 3 - 16  # the filter's delay, dropped
    np.testing.assert_allclose(y[100:], x[::3][100 : y.size], atol=1e-4)  # output j is input 3j
    # What the band can't hold is gone: 10 kHz is above 16 kHz's Nyquist.
    high = Downsampler().push(np.sin(2 * np.pi * 10_000 * t).astype(np.float32))
    assert np.abs(high[200:]).max() < 0.01


def test_frames_carry_their_place_on_the_clock() -> None:
    audio = audio_frame(np.full(960, 0.5, np.float32), first_sample=1920)
    assert audio.pts == 1920 and audio.sample_rate == 48_000 and audio.samples == 960
    np.testing.assert_allclose(to_mono(audio), 0.5, atol=1e-4)
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 0] = 255
    video = video_frame(rgb, 7, 25)
    assert video.pts == 7 * 3600 and video.format.name == "yuv420p"
    assert np.abs(video.to_ndarray(format="rgb24").astype(int) - rgb).max() <= 3


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> LiveMedia:
    image = samples.save_image(Path(tmp_path_factory.mktemp("face")) / "face.png", samples.astronaut())
    return LiveMedia(LiveFace.from_image(image, "480p", Style(), seed=1, frames=100), MouthModel())


def test_timeline_gives_each_frame_its_audio_once(media: LiveMedia) -> None:
    assert not media.ready(0)
    speech = (0.3 * np.sin(np.arange(samples_for_frame(3)) / 7)).astype(np.float32)
    media.add(speech[:960], now=10.0)
    media.add(np.zeros(2000, np.float32), now=10.5, real=False)  # padding: no arrival time
    media.add(speech[2960:], now=11.0)
    assert media.ready(3) and not media.ready(4)
    assert media.arrival(100) == 10.0 and media.arrival(1500) is None and media.arrival(5000) == 11.0
    assert media.last_sound == 11.0
    timeline = np.concatenate([speech[:960], np.zeros(2000, np.float32), speech[2960:]])
    for t in range(4):
        frame = media.frame(t, draw=t != 2)
        assert (frame is None) == (t == 2)  # a dropped frame is not drawn, its mouth still moves
        np.testing.assert_array_equal(media.audio(t), timeline[t * FRAME_SAMPLES:(t + 1) * FRAME_SAMPLES])
