"""Media I/O: every input format the API names decodes; the output is what browsers play."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from services.engine.engine_errors import MediaError, MediaTooLarge
from services.engine.media import av_io as media

TONE_HZ = 440.0


def tone(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def write_audio(path: Path, fmt: str, codec: str, rate: int, layout: str, sample_fmt: str,
                seconds: float = 1.0) -> Path:
    channels = 2 if layout == "stereo" else 1
    signal = np.tile(tone(rate, seconds), (channels, 1))
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        stream.format = sample_fmt
        packed = not sample_fmt.endswith("p")
        block = 1152 if codec == "libmp3lame" else 1024
        for start in range(0, signal.shape[1], block):
            chunk = signal[:, start:start + block]
            if sample_fmt.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            data = chunk.T.reshape(1, -1) if packed else chunk
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=sample_fmt,
                                               layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


AUDIO_CASES = [
    ("a.wav", "wav", "pcm_s16le", 22050, "mono", "s16"),
    ("a.mp3", "mp3", "libmp3lame", 44100, "stereo", "fltp"),
    ("a.m4a", "ipod", "aac", 48000, "stereo", "fltp"),
    ("a.ogg", "ogg", "libopus", 48000, "mono", "flt"),
    ("a.flac", "flac", "flac", 96000, "stereo", "s16"),
]


@pytest.mark.parametrize(("name", "fmt", "codec", "rate", "layout", "sample_fmt"), AUDIO_CASES)
def test_audio_formats_decode_to_mono_at_any_rate(
    tmp_path: Path, name: str, fmt: str, codec: str, rate: int, layout: str, sample_fmt: str
) -> None:
    path = write_audio(tmp_path / name, fmt, codec, rate, layout, sample_fmt)
    audio = media.load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(16000, abs=1600)  # codec padding allowed
    # The tone survives: its frequency is where the spectrum peaks.
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert peak_hz == pytest.approx(TONE_HZ, abs=5)


def test_audio_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.wav", "wav", "pcm_s16le", 8000, "mono", "s16", 4.0)
    with pytest.raises(MediaTooLarge, match="longer than the 3 s limit"):
        media.load_audio(path, 16000, media.Limits(max_audio_seconds=3))


def test_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF0000WAVEjunk" * 10)
    with pytest.raises(MediaError):
        media.load_audio(path, 16000)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_image_formats(tmp_path: Path, ext: str) -> None:
    import cv2

    rgb = np.zeros((60, 90, 3), np.uint8)
    rgb[:, :45] = (200, 30, 30)
    rgb[:, 45:] = (30, 30, 200)
    path = tmp_path / f"img.{ext}"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 100])
    image = media.load_image(path)
    assert image.shape == (60, 90, 3)
    assert np.abs(image[30, 10].astype(int) - (200, 30, 30)).max() < 20
    assert np.abs(image[30, 80].astype(int) - (30, 30, 200)).max() < 20


def write_video(path: Path, fmt: str, codec: str, fps: int, frames: int,
                size: tuple[int, int] = (160, 120)) -> Path:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p" if codec != "prores" else "yuv422p10le"
        for i in range(frames):
            # The frame's index is written into its brightness, so resampling can be checked.
            img = np.full((size[1], size[0], 3), min(255, i * 4), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("name", "fmt", "codec", "fps"), [
    ("v.mp4", "mp4", "libx264", 30),
    ("v.mov", "mov", "libx264", 24),
    ("v.webm", "webm", "libvpx-vp9", 60),
    ("v.mp4", "mp4", "mpeg4", 25),
])
def test_videos_resample_to_25_fps(tmp_path: Path, name: str, fmt: str, codec: str, fps: int) -> None:
    path = write_video(tmp_path / name, fmt, codec, fps, frames=2 * fps)
    info = media.probe_video(path)
    assert (info.width, info.height) == (160, 120)
    frames = list(media.iter_video_frames(path, (80, 60), 1000))
    assert len(frames) == pytest.approx(50, abs=1)  # 2 s at 25 fps
    assert frames[0].shape == (60, 80, 3)
    # Output frame k shows the source frame on screen at k/25 s.
    k = 30
    expected = min(255, int(k / 25 * fps) * 4)
    assert abs(int(frames[k][30, 40].mean()) - expected) <= 6


def test_output_size_keeps_aspect_and_even_sides() -> None:
    assert media.output_size(1920, 1080, "480p") == (854, 480)
    assert media.output_size(1080, 1920, "720p") == (720, 1280)
    assert media.output_size(512, 512, "480p") == (480, 480)
    w, h = media.output_size(333, 777, "480p")
    assert w == 480 and h % 2 == 0
    with pytest.raises(ValueError):
        media.output_size(100, 100, "1080p")


def test_writer_makes_browser_playable_mp4(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    with media.Mp4Writer(out, (64, 48), audio=tone(48000, 1.0)) as writer:
        for i in range(25):
            writer.write(np.full((48, 64, 3), i * 8, np.uint8))
    with av.open(str(out)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert a.codec_context.name == "aac" and v.average_rate == 25
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart
    assert len(list(media.iter_video_frames(out, (64, 48), 100))) == 25


def test_writer_refuses_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        media.Mp4Writer(tmp_path / "o.mp4", (63, 48))
