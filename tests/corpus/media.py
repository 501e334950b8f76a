"""Bad (and a few good) media files, made at test time: nothing binary is committed.

Each maker writes one small file and returns its path. The bad ones are small on purpose even when
they claim to be huge: a header that lies is the attack, not the bytes behind it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from services.devtools import samples
from services.engine.media import speech

Maker = Callable[[Path], Path]


# -- good inputs --------------------------------------------------------------------------------

def face_png(path: Path) -> Path:
    path.write_bytes(_png_bytes(samples.grace_hopper()))
    return path


def speech_wav(path: Path) -> Path:
    samples.save_speech(path, "Hello Bob.")
    return path


def wall_png(path: Path) -> Path:
    """A smooth gradient: a valid picture with no face in it."""
    ramp = np.linspace(40, 220, 320, dtype=np.float32)
    path.write_bytes(_png_bytes(np.repeat(np.tile(ramp, (240, 1))[..., None], 3, 2).astype(np.uint8)))
    return path


def face_mp4(path: Path) -> Path:
    """One second of the face as a video."""
    rgb = samples.grace_hopper()[:480, :480]
    _encode_video(path, [rgb] * 25, rate=25)
    return path


# -- images ------------------------------------------------------------------------------------

def truncated_png(path: Path) -> Path:
    whole = _png_bytes(samples.grace_hopper())
    path.write_bytes(whole[: len(whole) // 3])
    return path


def png_signature_only(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return path


def jpeg_header_only(path: Path) -> Path:
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    return path


def huge_png(path: Path) -> Path:
    """A valid PNG header declaring 30000x30000 pixels, with one tiny compressed row behind it."""
    path.write_bytes(_png_header(30000, 30000) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + _chunk(b"IEND", b""))
    return path


def wide_png(path: Path) -> Path:
    """A real 9000x4 picture: over the 8192 px side limit."""
    path.write_bytes(_png_bytes(np.zeros((4, 9000, 3), np.uint8)))
    return path


def zip_file(path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("face.png", _png_bytes(np.zeros((8, 8, 3), np.uint8)))
    path.write_bytes(buffer.getvalue())
    return path


def html_error_page(path: Path) -> Path:
    path.write_text("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                    "<body><h1>Not Found</h1><p>The requested URL was not found.</p></body></html>\n")
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 8000, np.uint8).tobytes())
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


# -- audio -------------------------------------------------------------------------------------

def mp3_garbage(path: Path) -> Path:
    """An ID3 tag, then noise where the MPEG frames should be."""
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    path.write_bytes(tag + np.random.default_rng(2).integers(0, 256, 6000, np.uint8).tobytes())
    return path


def wav_lying_header(path: Path) -> Path:
    """A WAV whose RIFF and data sizes claim ~4 GiB (about 37 hours at 16 kHz): 0.1 s follows."""
    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()
    path.write_bytes(_wav_header(16000, 1, 2, 0xFFFFFF00) + pcm)
    return path


def wav_header_only(path: Path) -> Path:
    """A well-formed WAV header announcing a data chunk of zero bytes: zero-length audio."""
    path.write_bytes(_wav_header(16000, 1, 2, 0))
    return path


def wav_lying_rate(path: Path) -> Path:
    """A WAV header claiming 1 MHz sampling: past the sample-rate limit."""
    pcm = (np.sin(np.arange(1600) / 5) * 8000).astype("<i2").tobytes()
    path.write_bytes(_wav_header(1_000_000, 1, 2, len(pcm)) + pcm)
    return path


def wav_zero_channels(path: Path) -> Path:
    pcm = np.zeros(800, "<i2").tobytes()
    path.write_bytes(_wav_header(16000, 0, 2, len(pcm)) + pcm)
    return path


def wav_zero_rate(path: Path) -> Path:
    pcm = np.zeros(800, "<i2").tobytes()
    path.write_bytes(_wav_header(0, 1, 2, len(pcm)) + pcm)
    return path


def silent_wav(path: Path) -> Path:
    speech.save_wav(path, np.zeros(16000, np.float32), 16000)
    return path


def long_wav(path: Path) -> Path:
    """601 s of quiet tone as 8-bit PCM at 1000 Hz: 601 kB, honest header."""
    rate, seconds = 1000, 601
    tone = (128 + 20 * np.sin(np.arange(rate * seconds) * 0.7)).astype(np.uint8).tobytes()
    path.write_bytes(_wav_header(rate, 1, 1, len(tone)) + tone)
    return path


def long_flac(path: Path) -> Path:
    """700 s of near-silence in FLAC: compresses to a few kilobytes."""
    rate, seconds = 8000, 700
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"
        hiss = np.random.default_rng(3).integers(-2, 3, rate, np.int16)
        for second in range(seconds):
            frame = av.AudioFrame.from_ndarray(hiss[None, :], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, second * rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def png_named_mp3(path: Path) -> Path:
    """A picture under an audio file's name (call it with a .mp3 path): the bytes decide."""
    return face_png(path)


# -- video -------------------------------------------------------------------------------------

def mp4_without_moov(path: Path) -> Path:
    """An MP4's `ftyp` and `mdat`, but no `moov` (the index): an upload cut short."""
    good = path.with_suffix(".whole.mp4")
    face_mp4(good)
    data = good.read_bytes()
    good.unlink()
    moov = data.find(b"moov") - 4
    assert moov > 0, "the encoder wrote no moov box"
    size = struct.unpack(">I", data[moov:moov + 4])[0]
    path.write_bytes(data[:moov] + data[moov + size:])
    return path


def truncated_mp4(path: Path) -> Path:
    """The first 2 kB of a faststart MP4: the index, but almost no frames."""
    good = path.with_suffix(".whole.mp4")
    face_mp4(good)
    path.write_bytes(good.read_bytes()[:2048])
    good.unlink()
    return path


def wide_video(path: Path) -> Path:
    """A 9000x16 video: over the side limit, refused from its header."""
    _encode_video(path, [np.zeros((16, 9000, 3), np.uint8)] * 2, rate=25)
    return path


def slow_video(path: Path) -> Path:
    """Two frames at one frame per 1000 s: a declared duration of over half an hour."""
    rgb = samples.grace_hopper()[:480, :480]
    _encode_video(path, [rgb, rgb], rate=Fraction(1, 1000))
    return path


def audio_only_mp4(path: Path) -> Path:
    """An MP4 with an audio track and no picture, given as the video."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        tone = (np.sin(np.arange(16000) / 7) * 0.3).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# -- helpers -----------------------------------------------------------------------------------

def _encode_video(path: Path, frames: list[np.ndarray], rate: int | Fraction, codec: str = "libx264") -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _png_bytes(rgb: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)


def _wav_header(rate: int, channels: int, width: int, data_bytes: int) -> bytes:
    riff = min(0xFFFFFFFF, 36 + data_bytes)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * width,
                                    channels * width, 8 * width)
            + b"data" + struct.pack("<I", data_bytes))
