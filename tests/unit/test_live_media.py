"""The live session's media pieces: 48 -> 16 kHz aligned to the sample, frames drawn in I420
and encoded on the audio clock, the timeline that hands out each frame's audio once and dates
sounds' arrival."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_PLI, RtcpPsfbPacket, pack_remb_fci

from services.devtools import samples
from services.engine.mouth.mouth_model import MouthModel
from services.engine.mouth.mouth_track import rest_shapes
from services.engine.render.streaming import LiveFace
from services.engine.render.style import Style
from services.live.downsample import Downsampler
from services.live.encoding import AudioEncoder, VideoEncoder, watch_requests
from services.live.media import FRAME_SAMPLES, LiveMedia, samples_for_frame
from services.live.tracks import to_mono


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


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / max(np.mean((a.astype(float) - b) ** 2), 1e-9)))


def test_audio_packets_carry_their_place_on_the_clock() -> None:
    encoder, decoder = AudioEncoder(), av.CodecContext.create("libopus", "r")
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48_000) / 48_000)).astype(np.float32)
    decoded = []
    for k in range(50):
        packets = encoder.encode(tone[k * 960 : (k + 1) * 960], first_sample=1920 + k * 960)
        assert [(p.pts, p.time_base) for p in packets] == [(1920 + k * 960, Fraction(1, 48_000))]
        for packet in packets:
            decoded += [to_mono(f) for f in decoder.decode(packet)]
    back = np.concatenate(decoded)
    assert back.size == tone.size
    # Opus delays by its 312-sample look-ahead; past that, the tone comes back.
    assert np.corrcoef(back[1312:], tone[1000:-312])[0, 1] > 0.95


def test_video_packets_carry_their_place_on_the_clock_and_keyframes_come_on_request() -> None:
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (480, 480, 3), np.uint8), (9, 9), 3)
    encoder, decoder = VideoEncoder(), av.CodecContext.create("libvpx", "r")
    keys = []
    for t in range(12):
        moved = np.roll(rgb, t, axis=1)
        i420 = cv2.cvtColor(moved, cv2.COLOR_RGB2YUV_I420)
        if t == 8:
            encoder.request_keyframe()
        packets = encoder.encode(i420, 7 + t, 25)
        assert [(p.pts, p.time_base) for p in packets] == [((7 + t) * 3600, Fraction(1, 90_000))]
        keys.append(packets[0].is_keyframe)
        (back,) = decoder.decode(packets[0])
        assert back.format.name == "yuv420p" and (back.width, back.height) == (480, 480)
        assert _psnr(back.to_ndarray(format="rgb24"), moved) > 30
    assert keys == [True] + [False] * 7 + [True] + [False] * 3
    encoder.set_target_bitrate(1_000_000)  # a new rate: a new codec, so a keyframe
    assert encoder.encode(i420, 19, 25)[0].is_keyframe
    encoder.set_target_bitrate(10**9)
    assert encoder.target_bitrate == 1_500_000  # aiortc's range


def test_a_new_bitrate_opens_a_new_codec_only_when_it_changes_what_is_sent() -> None:
    rng = np.random.default_rng(1)
    still = cv2.cvtColor(cv2.GaussianBlur(rng.integers(0, 256, (480, 480, 3), np.uint8), (9, 9), 3),
                         cv2.COLOR_RGB2YUV_I420)
    noise = [cv2.cvtColor(rng.integers(0, 256, (480, 480, 3), np.uint8), cv2.COLOR_RGB2YUV_I420)
             for _ in range(4)]

    def keyframes(encoder: VideoEncoder, frames: list[np.ndarray], t0: int) -> list[int]:
        return [t0 + i for i, f in enumerate(frames) if encoder.encode(f, t0 + i, 25)[0].is_keyframe]

    # A still picture, once refined (3 s), sends far under 500 kbps: a higher estimate, or a
    # lower one still above what is sent, changes nothing.
    quiet = VideoEncoder()
    assert keyframes(quiet, [still] * 80, 0) == [0]
    for estimate in (1_200_000, 300_000):
        quiet.set_target_bitrate(estimate)
        assert keyframes(quiet, [still] * 5, 80) == []
    # Noise fills its 500 kbps: a higher estimate gets a new codec (a keyframe), and so does
    # one under what it sends.
    busy = VideoEncoder()
    assert keyframes(busy, noise * 8, 0) == [0]
    busy.set_target_bitrate(1_200_000)
    assert keyframes(busy, noise, 32) == [32]
    busy.set_target_bitrate(300_000)
    assert keyframes(busy, noise * 7, 36) == [36]


def test_the_receivers_requests_reach_the_encoder() -> None:
    class Sender:
        _ssrc = 1234

        def __init__(self) -> None:
            self.seen: list[object] = []

        async def _handle_rtcp_packet(self, packet: object) -> None:
            self.seen.append(packet)

    sender, encoder = Sender(), VideoEncoder()
    watch_requests(sender, encoder)  # type: ignore[arg-type]
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=1234)
    remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(800_000, [1234]))
    other = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(300_000, [99]))
    for packet in (pli, remb, other):
        asyncio.run(sender._handle_rtcp_packet(packet))
    assert encoder.keyframe_wanted and encoder.target_bitrate == 800_000
    assert sender.seen == [pli, remb, other]  # aiortc still handles each


@pytest.mark.parametrize("still", [False, True])
def test_i420_frames_are_the_whole_frame_converted(tmp_path: Path, still: bool) -> None:
    image = samples.save_image(tmp_path / "face.png", samples.astronaut())
    style = dataclasses.replace(Style(), still=still, blink_rate=4.0)
    rgb_face = LiveFace.from_image(image, "480p", style, seed=2, frames=100)
    i420_face = LiveFace(copy.deepcopy(rgb_face.portrait), style, seed=2, frames=100)
    rest = rest_shapes(1)[0]
    for t in range(100):  # speech, pauses, blinks and (unless still) the head's sway
        shape = rest.copy()
        shape[0] = max(0.0, np.sin(t / 4)) if t % 30 < 20 else shape[0]
        rgb = rgb_face.draw(t, rgb_face.styled(shape))
        i420 = i420_face.draw_i420(t, i420_face.styled(shape))
        assert i420.shape == (720, 480)
        np.testing.assert_array_equal(i420, cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))


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
        assert frame is None or frame.shape == (720, 480)  # I420
        np.testing.assert_array_equal(media.audio(t), timeline[t * FRAME_SAMPLES:(t + 1) * FRAME_SAMPLES])
