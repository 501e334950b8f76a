"""Renders driven by a Wav2Lip-class generator: a dubbed video, or a still portrait speaking.

Per output frame: the tracked face's landmarks give a square crop, resized to 96x96; its lower
half is blanked and it is paired with a reference crop (the same frame unmasked, as the
published inference does; for a portrait, the portrait). The audio becomes the 80-band mel
windows the generator was trained on (`wav2lip_audio`), one 200 ms window per frame. Frames go
to the `FrameGenerator` in batches of `MAX_BATCH`, and only the lower half of each generated
face is pasted back, through a feathered mask: nothing outside that half of the square changes.

Only as good as the operator's checkpoint: nothing here ships or downloads weights, and with the
randomly initialised weights the tests use, the pasted mouth region is noise. The portrait gets
no blinks or head motion here (the built-in engine's idle life is not applied).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from services.core.vocabulary import DEFAULT_RESOLUTION
from services.engine.faces.face_boxes import FaceTracker, select_faces
from services.engine.generators import wav2lip_audio
from services.engine.generators.backend import FACE_SIZE, MAX_BATCH, FrameGenerator
from services.engine.media import av_io as media
from services.engine.media import features

# The built-in video render's frame source (plays a short video back and forth, remembers
# landmarks), stage timer and encode loop, so both renders loop, time and report alike.
from services.engine.render.renderer import (
    LoopingSource,
    Progress,
    RenderResult,
    StageTimer,
    encode_frames,
    resolve_seed,
)

BOTTOM_SHIFT = 0.05  # the square sits this much of its side lower than the landmarks' centre,
# as the published crops carry extra rows below the chin
FEATHER = 0.1  # width of the paste mask's soft edge, as a fraction of the square's side


@dataclass(frozen=True)
class FaceSquare:
    """A square around the face in frame pixels (it may reach past the frame's edges)."""

    x0: int
    y0: int
    side: int

    @property
    def lower_half(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 (exclusive) of the only region a paste may change."""
        return self.x0, self.y0 + self.side // 2, self.x0 + self.side, self.y0 + self.side


def face_square(landmarks: np.ndarray) -> FaceSquare:
    lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    side = max(round(float((hi - lo).max())), 8)
    cx = float(lo[0] + hi[0]) / 2
    cy = float(lo[1] + hi[1]) / 2 + BOTTOM_SHIFT * side
    return FaceSquare(round(cx - side / 2), round(cy - side / 2), side)


def cut(frame: np.ndarray, square: FaceSquare) -> np.ndarray:
    """The square as a FACE_SIZE x FACE_SIZE RGB crop; past the frame's edges, edge pixels."""
    height, width = frame.shape[:2]
    ys = np.clip(np.arange(square.y0, square.y0 + square.side), 0, height - 1)
    xs = np.clip(np.arange(square.x0, square.x0 + square.side), 0, width - 1)
    patch = frame[ys[:, None], xs[None, :]]
    return cv2.resize(patch, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def face_batch(targets: np.ndarray, references: np.ndarray) -> np.ndarray:
    """RGB crops [N, 96, 96, 3] uint8 -> the generator's `face` [N, 6, 96, 96] in [0, 1]:
    the target with its lower half blanked, then the reference, both BGR (the published
    training reads frames with OpenCV, so checkpoints expect BGR)."""
    masked = targets[..., ::-1].copy()
    masked[:, FACE_SIZE // 2:] = 0
    face = np.concatenate([masked, references[..., ::-1]], axis=3)
    return np.ascontiguousarray(face.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def generated_faces(frames: np.ndarray) -> np.ndarray:
    """The generator's BGR [N, 3, 96, 96] in [0, 1] -> RGB [N, 96, 96, 3] uint8."""
    rgb = np.asarray(frames).transpose(0, 2, 3, 1)[..., ::-1]
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _paste_weights(side: int) -> np.ndarray:
    """[side - side // 2, side] weights over the square's lower half: 1 inside, easing to 0 at
    every edge of the half, so the seam is invisible and nothing outside it moves."""
    rows, cols = side - side // 2, side
    feather = max(2.0, FEATHER * side)
    r = np.arange(rows, dtype=np.float32) + 0.5
    c = np.arange(cols, dtype=np.float32) + 0.5
    to_edge = np.minimum(np.minimum(r, rows - r)[:, None], np.minimum(c, cols - c)[None, :])
    t = np.clip(to_edge / feather, 0.0, 1.0)
    return t * t * (3 - 2 * t)  # smoothstep


def paste(canvas: np.ndarray, square: FaceSquare, face: np.ndarray,
          mask: np.ndarray | None = None) -> None:
    """Blend the lower half of `face` (96x96 RGB) into `canvas` where the square lies; `mask`
    (HxW in [0, 1], white = may change) scales the blend."""
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = square.lower_half
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    big = cv2.resize(face, (square.side, square.side), interpolation=cv2.INTER_LINEAR)
    lower = big[square.side // 2:].astype(np.float32)
    weights = _paste_weights(square.side)[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    if mask is not None:
        weights = weights * mask[fy0:fy1, fx0:fx1]
    region = canvas[fy0:fy1, fx0:fx1].astype(np.float32)
    blended = region + weights[..., None] * (lower[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] - region)
    canvas[fy0:fy1, fx0:fx1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def speech_windows(speech48k: np.ndarray, frames: int) -> np.ndarray:
    """[frames, 1, 80, 16] mel windows of 48 kHz speech, one per 25 fps frame."""
    audio16k = features.resample(speech48k, media.OUTPUT_AUDIO_RATE, wav2lip_audio.SAMPLE_RATE)
    return wav2lip_audio.frame_windows(wav2lip_audio.mel_spectrogram(audio16k), frames, media.FPS)


@dataclass(frozen=True)
class _Face:
    square: FaceSquare
    crop: np.ndarray  # 96x96 RGB: the masked target and, unmasked, the reference


@dataclass(frozen=True)
class _Frame:
    picture: np.ndarray  # RGB, shown as it is where no face was found
    face: _Face | None


class _Batches:
    """Output frames by index, computed `MAX_BATCH` at a time: `take(index)` asks `prepare`
    for the next frames when it runs out, and runs the generator on their faces in one call."""

    def __init__(self, generator: FrameGenerator, windows: np.ndarray,
                 prepare: Callable[[int], _Frame], mask: np.ndarray | None,
                 stages: StageTimer) -> None:
        self._generator, self._windows, self._prepare = generator, windows, prepare
        self._mask, self._stages = mask, stages
        self._ready: dict[int, np.ndarray] = {}

    def take(self, index: int) -> np.ndarray:
        if index not in self._ready:
            self._ready = self._run(range(index, min(index + MAX_BATCH, len(self._windows))))
        return self._ready.pop(index)

    def _run(self, indices: range) -> dict[int, np.ndarray]:
        prepared = {i: self._prepare(i) for i in indices}
        out = {i: frame.picture for i, frame in prepared.items()}
        faces = {i: frame.face for i, frame in prepared.items() if frame.face is not None}
        if not faces:
            return out
        with self._stages.stage("inference"):
            crops = np.stack([face.crop for face in faces.values()])
            generated = generated_faces(self._generator.generate(
                face_batch(crops, crops), self._windows[list(faces)]))
        with self._stages.stage("render"):
            for (i, face), made in zip(faces.items(), generated, strict=True):
                canvas = out[i].copy()
                paste(canvas, face.square, made, self._mask)
                out[i] = canvas
        return out


def _frames_for(samples: int) -> int:
    return max(1, round(samples / media.OUTPUT_AUDIO_RATE * media.FPS))


def _user_mask(path: str | Path | None, size: tuple[int, int],
               limits: media.Limits) -> np.ndarray | None:
    if path is None:
        return None
    mask = media.load_mask(path, size, limits)
    return cv2.GaussianBlur(mask, (0, 0), max(size) / 200).astype(np.float32)


def render_video(video: str | Path, audio: str | Path, out: str | Path, generator: FrameGenerator,
                 resolution: str = DEFAULT_RESOLUTION, mask_image: str | Path | None = None,
                 seed: int | None = None, progress: Progress | None = None,
                 limits: media.Limits = media.DEFAULT_LIMITS) -> RenderResult:
    """Dub a video with the generator; as long as the audio (a short video plays back and
    forth, as in the built-in render). Frames where the face is lost pass unchanged."""
    stages = StageTimer()
    seed = resolve_seed(seed)  # recorded only: the generator is deterministic
    with stages.stage("decode"):
        info = media.probe_video(video, limits)
        size = media.output_size(info.width, info.height, resolution)
        speech = media.load_speech(audio, limits)
        mask = _user_mask(mask_image, size, limits)
    frames = _frames_for(speech.size)
    with stages.stage("inference"):
        windows = speech_windows(speech, frames)
    with tempfile.TemporaryDirectory(prefix="lipsync-") as tmp:
        may_loop = info.seconds is None or info.seconds * media.FPS < frames + 2
        source = LoopingSource(video, size, frames, Path(tmp) if may_loop else None, limits)
        trackers: list[FaceTracker] = []

        def prepare(index: int) -> _Frame:
            with stages.stage("decode"):
                frame, landmarks = source.frame(index)
                frame = np.array(frame)  # the source may hand out its own buffer
            if landmarks is None:
                with stages.stage("faces"):
                    if not trackers:
                        (face,) = select_faces(frame, count=1, mask=mask)
                        trackers.append(FaceTracker(face))
                    tracked = trackers[0].track(frame)
                landmarks = tracked.landmarks if tracked is not None else None
                source.remember(index, landmarks)
            if landmarks is None:
                return _Frame(frame, None)
            square = face_square(landmarks)
            return _Frame(frame, _Face(square, cut(frame, square)))

        batches = _Batches(generator, windows, prepare, mask, stages)
        encode_frames(out, size, speech, frames, batches.take, stages, progress)
    return RenderResult(Path(out), frames, frames / media.FPS, seed, stages.ms)


def render_image(image: str | Path, audio: str | Path, out: str | Path, generator: FrameGenerator,
                 resolution: str = DEFAULT_RESOLUTION, mask_image: str | Path | None = None,
                 seed: int | None = None, progress: Progress | None = None,
                 limits: media.Limits = media.DEFAULT_LIMITS) -> RenderResult:
    """A still portrait speaking `audio` through the generator (mouth region only)."""
    stages = StageTimer()
    seed = resolve_seed(seed)
    with stages.stage("decode"):
        source = media.load_image(image, limits)
        size = media.output_size(source.shape[1], source.shape[0], resolution)
        picture = cv2.resize(source, size, interpolation=cv2.INTER_AREA
                             if size[0] < source.shape[1] else cv2.INTER_CUBIC)
        speech = media.load_speech(audio, limits)
        mask = _user_mask(mask_image, size, limits)
    frames = _frames_for(speech.size)
    with stages.stage("faces"):
        (face,) = select_faces(picture, count=1, mask=mask)
    with stages.stage("inference"):
        windows = speech_windows(speech, frames)
    square = face_square(face.landmarks)
    still = _Frame(picture, _Face(square, cut(picture, square)))
    batches = _Batches(generator, windows, lambda _: still, mask, stages)
    encode_frames(out, size, speech, frames, batches.take, stages, progress)
    return RenderResult(Path(out), frames, frames / media.FPS, seed, stages.ms)
