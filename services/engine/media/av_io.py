"""Media I/O through PyAV: decode images, audio and video; encode browser-playable MP4.

Every decoder checks the container's header against limits before decoding the payload, so a
small file that claims huge dimensions or hours of audio is refused cheaply.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np

from services.core.vocabulary import Resolution
from services.engine.engine_errors import MediaError, MediaTooLarge, SilentAudio
from services.engine.media.image_header import HEAD_BYTES, declared_size

FPS = 25
OUTPUT_AUDIO_RATE = 48_000
SILENT_PEAK = 1e-4  # audio whose peak stays below this (of full scale) holds no speech to lip-sync
RESOLUTIONS: dict[str, int] = {r: r.height for r in Resolution}


@dataclass(frozen=True)
class Limits:
    """What the decoders accept. The defaults follow the public API (audio up to 600 s)."""

    max_audio_seconds: float = 600.0
    max_video_seconds: float = 600.0
    max_pixels: int = 7680 * 4320
    max_side: int = 8192
    max_sample_rate: int = 384_000


DEFAULT_LIMITS = Limits()


def output_size(width: int, height: int, resolution: str) -> tuple[int, int]:
    """Scale so the shorter side is 480/720 px, keeping the aspect ratio, both sides even."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {sorted(RESOLUTIONS)}, not {resolution!r}")
    short = RESOLUTIONS[resolution]
    scale = short / min(width, height)
    out_w = max(2, round(width * scale / 2) * 2)
    out_h = max(2, round(height * scale / 2) * 2)
    return out_w, out_h


def is_silent(audio: np.ndarray) -> bool:
    """The one silence test: the render refuses such audio, and nothing is sent to the model for it."""
    return float(np.abs(audio).max(initial=0.0)) < SILENT_PEAK


def load_speech(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """The speech track of a render at the output rate; silence is refused, with a message."""
    audio = load_audio(path, OUTPUT_AUDIO_RATE, limits)
    if is_silent(audio):
        raise SilentAudio("The audio is silent: there is no speech to lip-sync")
    return audio


def _open(path: str | Path, kind: str) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"Invalid {kind} file: it could not be decoded ({exc.__class__.__name__})") from exc


def _check_dimensions(width: int, height: int, kind: str, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"Invalid {kind} file: it has no picture")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"The {kind} is {width}x{height}; the limit is {limits.max_side} px a side "
            f"and {limits.max_pixels // 1_000_000} megapixels"
        )


def load_image(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode a PNG/JPEG/WebP (or any single picture FFmpeg reads) to RGB uint8 HxWx3."""
    # The size the header claims first: FFmpeg reports none for a picture too large to allocate.
    with open(path, "rb") as f:
        declared = declared_size(f.read(HEAD_BYTES))
    if declared is not None:
        _check_dimensions(*declared, "image", limits)
    with _open(path, "image") as container:
        if not container.streams.video:
            raise MediaError("Invalid image file: it holds no picture")
        stream = container.streams.video[0]
        _check_dimensions(stream.codec_context.width, stream.codec_context.height, "image", limits)
        try:
            for frame in container.decode(stream):
                return frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise MediaError("Invalid image file: the picture data is corrupt") from exc
    raise MediaError("Invalid image file: it holds no picture")


def load_mask(path: str | Path, size: tuple[int, int], limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """A mask image as float32 HxW in [0, 1] at `size` (width, height); white = animate."""
    import cv2  # local: only masks need it here

    rgb = load_image(path, limits)
    gray = rgb.astype(np.float32).mean(axis=2) / 255.0
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def load_audio(
    path: str | Path, sample_rate: int, limits: Limits = DEFAULT_LIMITS
) -> np.ndarray:
    """Decode any audio FFmpeg reads to mono float32 at `sample_rate`."""
    with _open(path, "audio") as container:
        if not container.streams.audio:
            raise MediaError("Invalid audio format: the file holds no audio track")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or 0
        if rate <= 0 or rate > limits.max_sample_rate:
            raise MediaError(f"Invalid audio format: sample rate {rate} Hz is not supported")
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > limits.max_audio_seconds + 0.5:
            raise MediaTooLarge(_too_long(declared, limits.max_audio_seconds))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        total = 0
        max_samples = int((limits.max_audio_seconds + 0.5) * sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                if total > max_samples:
                    raise MediaTooLarge(_too_long(total / sample_rate, limits.max_audio_seconds))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise MediaError("Invalid audio format: the audio data is corrupt") from exc
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise MediaError("Invalid audio format: the audio is empty (zero length)")
    if not np.isfinite(audio).all():
        raise MediaError("Invalid audio format: the audio holds invalid samples")
    return np.clip(audio, -1.0, 1.0)


def _too_long(seconds: float, limit: float) -> str:
    return f"Audio is longer than the {limit:.0f} s limit ({seconds:.0f} s)"


def _declared_seconds(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    seconds: float | None


def probe_video(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> VideoInfo:
    """Dimensions and declared duration of a video, checked against the limits."""
    with _open(path, "video") as container:
        if not container.streams.video:
            raise MediaError("Invalid video file: it holds no video track")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_dimensions(width, height, "video", limits)
        seconds = _declared_seconds(container, stream)
    return VideoInfo(width, height, seconds)


def iter_video_frames(
    path: str | Path,
    size: tuple[int, int],
    max_frames: int,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[np.ndarray]:
    """Frames resampled to 25 fps (nearest earlier source frame) and scaled to `size` (w, h).

    Any source frame rate works: output frame k shows the source frame on screen at k/25 s.
    """
    width, height = size
    max_frames = min(max_frames, int(limits.max_video_seconds * FPS))
    with _open(path, "video") as container:
        if not container.streams.video:
            raise MediaError("Invalid video file: it holds no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        emitted = 0
        previous: np.ndarray | None = None
        start: float | None = None
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else emitted / FPS
                start = t if start is None else start
                t -= start
                # Emit the previous frame for every output instant it covered.
                while previous is not None and emitted < max_frames and emitted / FPS < t:
                    yield previous
                    emitted += 1
                if emitted >= max_frames:
                    return
                previous = frame.to_ndarray(format="rgb24", width=width, height=height)
        except av.error.FFmpegError as exc:
            if previous is None:
                raise MediaError("Invalid video file: the video data is corrupt") from exc
            # A truncated tail: keep what decoded, as players do.
        if previous is None:
            raise MediaError("Invalid video file: it holds no decodable frames")
        # The last frame stays on screen for one frame period.
        if emitted < max_frames:
            yield previous


class Mp4Writer:
    """H.264 (yuv420p) + AAC MP4 at 25 fps with the index up front (+faststart).

    Audio is muxed alongside the video, one frame's worth at a time, so the file interleaves
    and plays progressively in browsers.
    """

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        audio: np.ndarray | None = None,
        audio_rate: int = OUTPUT_AUDIO_RATE,
        preset: str = "veryfast",
        crf: int = 23,
    ) -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError("H.264 yuv420p needs even dimensions")
        self.size = size
        self._container = av.open(str(path), mode="w", format="mp4",
                                  options={"movflags": "+faststart"})
        self._video = self._container.add_stream("libx264", rate=FPS)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"preset": preset, "crf": str(crf)}
        self._video.codec_context.time_base = Fraction(1, FPS)
        self._frames = 0
        self._audio_data = audio
        self._audio_rate = audio_rate
        self._audio_sent = 0
        self._audio_stream = None
        if audio is not None:
            stream = self._container.add_stream("aac", rate=audio_rate)
            stream.layout = "mono"
            stream.bit_rate = 128_000
            self._audio_stream = stream
        # Encoding runs in a thread of its own, a few frames behind the caller: PyAV releases the
        # GIL inside the codec, so the next frame is drawn while this one is encoded.
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4)
        self._failure: BaseException | None = None
        self._encoder = threading.Thread(target=self._encode_queued, name="mp4-encode", daemon=True)
        self._encoder.start()

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB frame of exactly the writer's size (`rgb` may be reused at once)."""
        self._raise_failure()
        self._queue.put(_rgb_to_i420(rgb))  # a new array: the caller's buffer is free again

    def _encode_queued(self) -> None:
        try:
            while (i420 := self._queue.get()) is not None:
                frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                frame.pts = self._frames
                self._container.mux(self._video.encode(frame))
                self._frames += 1
                self._send_audio_until(self._frames / FPS)
        except BaseException as exc:  # handed to the caller's next write or close
            self._failure = exc
            while self._queue.get() is not None:  # unblock a writer waiting on a full queue
                pass

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _finish_encoding(self) -> None:
        if self._encoder.is_alive():
            self._queue.put(None)
            self._encoder.join()

    def _send_audio_until(self, seconds: float) -> None:
        if self._audio_stream is None or self._audio_data is None:
            return
        total = self._audio_data.size
        end = total if math.isinf(seconds) else min(round(seconds * self._audio_rate), total)
        if end <= self._audio_sent:
            return
        chunk = self._audio_data[self._audio_sent:end].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = self._audio_rate
        frame.pts = self._audio_sent
        self._container.mux(self._audio_stream.encode(frame))
        self._audio_sent = end

    def close(self) -> None:
        self._finish_encoding()
        self._raise_failure()
        self._container.mux(self._video.encode(None))
        if self._audio_stream is not None:
            self._send_audio_until(math.inf)
            self._container.mux(self._audio_stream.encode(None))
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._finish_encoding()
            self._container.close()


def _rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
