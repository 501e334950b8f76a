"""The three renders: a still portrait, a dubbed video, and two people in one picture.

Each takes local file paths, writes an MP4 and returns per-stage timings. Progress goes to an
optional callback `progress(fraction, stage)`.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from services.core.vocabulary import DEFAULT_RESOLUTION, Order
from services.engine.faces.face_boxes import FaceTracker, select_faces
from services.engine.media import av_io as media
from services.engine.media import features
from services.engine.mouth.mouth_model import MouthModel
from services.engine.mouth.mouth_track import frame_shape, rest_shapes, shapes_for_render
from services.engine.render.animator import FaceAnimator, HeadPose, softness_for
from services.engine.render.expression import apply_expression, expression_for, styled_shapes
from services.engine.render.idle_motion import blink_track, head_track
from services.engine.render.mouth_bank import MouthBank, opening_reach
from services.engine.render.mouth_interior import InteriorPalette
from services.engine.render.mouth_warp import MAX_GAP, MouthFrame
from services.engine.render.style import Style

Progress = Callable[[float, str], None]
# Mouth shapes (frames x [open, width, round]) for 48 kHz speech and a frame count. The model
# drives renders; benchmarks swap in the true phonemes or loudness as controls.
ShapeSource = Callable[[np.ndarray, int], np.ndarray]
ORDERS = tuple(Order)
KEEP_FRAMES_BYTES = 1 << 30  # a dubbed source up to this size (decoded) is decoded once, kept on disk


@dataclass
class RenderResult:
    path: Path
    frames: int
    seconds: float
    seed: int
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    style: Style = field(default_factory=Style)  # the style applied


class StageTimer:
    """Milliseconds per named stage; a stage timed twice adds up. The one timer of a render,
    from the engine's stages to the service's download and upload around them."""

    def __init__(self, ms: dict[str, float] | None = None) -> None:
        self.ms: dict[str, float] = dict(ms or {})

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000)

    def add(self, name: str, ms: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + ms


def resolve_seed(seed: int | None) -> int:
    """`None` or -1 picks a random seed; the one used is returned so it can be recorded."""
    if seed is None or seed < 0:
        return random.SystemRandom().randrange(0, 2**31)
    return int(seed)


_MODEL: MouthModel | None = None


def mouth_model() -> MouthModel:
    """The process-wide mouth model (loading it takes a moment, running it is cheap)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = MouthModel()
    return _MODEL


def model_shapes(audio48k: np.ndarray, frames: int) -> np.ndarray:
    """Mouth shapes predicted by the trained audio -> mouth-shape model."""
    audio16k = features.resample(audio48k, media.OUTPUT_AUDIO_RATE, features.SAMPLE_RATE)
    track = mouth_model().predict(audio16k, features.SAMPLE_RATE)
    shapes = shapes_for_render(track.shapes, track.visemes)
    return _fit(shapes, frames)


def _fit(shapes: np.ndarray, frames: int) -> np.ndarray:
    if shapes.shape[0] >= frames:
        return shapes[:frames]
    return np.concatenate([shapes, rest_shapes(frames - shapes.shape[0])])


def _frames_for(samples: int) -> int:
    return max(1, round(samples / media.OUTPUT_AUDIO_RATE * media.FPS))


def _load_picture(path: str | Path, resolution: str, limits: media.Limits) -> tuple[np.ndarray, float]:
    """The picture at output size, and how much it was enlarged (< 1: reduced)."""
    image = media.load_image(path, limits)
    size = media.output_size(image.shape[1], image.shape[0], resolution)
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if size[0] < image.shape[1]
                         else cv2.INTER_CUBIC)
    return resized, size[0] / image.shape[1]


def _feathered_mask(path: str | Path, size: tuple[int, int], limits: media.Limits) -> np.ndarray:
    mask = media.load_mask(path, size, limits)
    sigma = max(size) / 200
    return cv2.GaussianBlur(mask, (0, 0), sigma).astype(np.float32)


def render_image(
    image: str | Path,
    audio: str | Path,
    out: str | Path,
    resolution: str = DEFAULT_RESOLUTION,
    mask_image: str | Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    limits: media.Limits = media.DEFAULT_LIMITS,
    shapes_from: ShapeSource = model_shapes,
    style: Style | None = None,
) -> RenderResult:
    """A still portrait becomes a talking head speaking `audio`, in `style` (its expression,
    expressiveness, blinks and head motion; see `services.engine.render.style`)."""
    style = style or Style()
    stages = StageTimer()
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    with stages.stage("decode"):
        speech = media.load_speech(audio, limits)
    frames = _frames_for(speech.size)
    portrait = prepare_portrait(image, resolution, style, mask_image, limits, stages)
    with stages.stage("inference"):
        shapes = shapes_from(speech, frames)
    shapes = styled_shapes(shapes, style.expressiveness, portrait.open_gain)
    _animate_still(portrait.picture, [(portrait.animator, shapes)], speech, out, rng, stages,
                   progress, style)
    return RenderResult(Path(out), frames, frames / media.FPS, seed, stages.ms, style)


@dataclass
class Portrait:
    """A still portrait made ready to animate: analysed once, then drawn frame by frame."""

    picture: np.ndarray  # at output size, with the style's expression applied
    animator: FaceAnimator
    open_gain: float  # the expression's gain on mouth openings (`styled_shapes`)

    @property
    def size(self) -> tuple[int, int]:
        return self.picture.shape[1], self.picture.shape[0]


def prepare_portrait(image: str | Path, resolution: str, style: Style,
                     mask_image: str | Path | None = None,
                     limits: media.Limits = media.DEFAULT_LIMITS,
                     stages: StageTimer | None = None) -> Portrait:
    """Load `image` at `resolution`, find its face and set up its animator (the image render's
    and a live session's first step)."""
    stages = stages or StageTimer()
    with stages.stage("decode"):
        picture, upscale = _load_picture(image, resolution, limits)
        size = (picture.shape[1], picture.shape[0])
        mask = _feathered_mask(mask_image, size, limits) if mask_image else None
    with stages.stage("faces"):
        (face,) = select_faces(picture, count=1, mask=mask)
    expression = expression_for(style)
    with stages.stage("faces"):
        picture, landmarks = apply_expression(picture, face.landmarks, expression, mask=mask)
    animator = FaceAnimator(picture, landmarks, mask=mask, softness=softness_for(upscale))
    return Portrait(picture, animator, expression.open_gain)


def render_multi(
    image: str | Path,
    left_audio: str | Path,
    right_audio: str | Path,
    out: str | Path,
    order: str = Order.MEANWHILE,
    resolution: str = DEFAULT_RESOLUTION,
    seed: int | None = None,
    progress: Progress | None = None,
    limits: media.Limits = media.DEFAULT_LIMITS,
    shapes_from: ShapeSource = model_shapes,
    style: Style | None = None,
) -> RenderResult:
    """Two people in one picture: the left one speaks `left_audio`, the right one `right_audio`,
    both in `style`."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    style = style or Style()
    stages = StageTimer()
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    with stages.stage("decode"):
        picture, upscale = _load_picture(image, resolution, limits)
        left = media.load_speech(left_audio, limits)
        right = media.load_speech(right_audio, limits)
        size = (picture.shape[1], picture.shape[0])
    with stages.stage("faces"):
        left_face, right_face = select_faces(picture, count=2)
    starts: dict[str, tuple[int, int]] = {
        Order.MEANWHILE: (0, 0), Order.LEFT_RIGHT: (0, left.size), Order.RIGHT_LEFT: (right.size, 0)}
    left_start, right_start = starts[order]
    total = max(left_start + left.size, right_start + right.size)
    mix = np.zeros(total, np.float32)
    mix[left_start:left_start + left.size] += left
    mix[right_start:right_start + right.size] += right
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 0.99:
        mix *= 0.99 / peak
    frames = _frames_for(total)
    with stages.stage("inference"):
        tracks = []
        for speech, start in ((left, left_start), (right, right_start)):
            first = round(start / media.OUTPUT_AUDIO_RATE * media.FPS)
            track = rest_shapes(frames)
            spoken = shapes_from(speech, max(0, min(_frames_for(speech.size), frames - first)))
            track[first:first + spoken.shape[0]] = spoken
            tracks.append(track)
    # Each face animates in its own half of the picture, split between the two faces.
    split = round((left_face.box[2] + right_face.box[0]) / 2)
    split = int(np.clip(split, 1, size[0] - 1))
    halves = [(0, 0, split, size[1]), (split, 0, size[0], size[1])]
    expression = expression_for(style)
    landmarks = []
    for f, half in zip((left_face, right_face), halves, strict=True):
        picture, moved = apply_expression(picture, f.landmarks, expression, bounds=half)
        landmarks.append(moved)
    tracks = [styled_shapes(t, style.expressiveness, expression.open_gain) for t in tracks]
    animators = [FaceAnimator(picture, lm, bounds=b, softness=softness_for(upscale))
                 for lm, b in zip(landmarks, halves, strict=True)]
    _animate_still(picture, list(zip(animators, tracks, strict=True)), mix, out, rng, stages,
                   progress, style)
    return RenderResult(Path(out), frames, frames / media.FPS, seed, stages.ms, style)


def _animate_still(picture: np.ndarray, faces: list[tuple[FaceAnimator, np.ndarray]],
                   audio: np.ndarray, out: str | Path, rng: np.random.Generator, stages: StageTimer,
                   progress: Progress | None, style: Style) -> None:
    """Bring a still picture to life: each face speaks its shapes, blinks and sways (seeded)."""
    frames = faces[0][1].shape[0]
    motion = 0.0 if style.still else style.expressiveness
    lives = [(blink_track(frames, media.FPS, rng, style.blink_rate),
              head_track(frames, media.FPS, rng, shapes[:, 0], scale=motion))
             for _, shapes in faces]
    canvas = picture.copy()

    def draw(index: int) -> np.ndarray:
        with stages.stage("render"):
            for (animator, shapes), (blinks, poses) in zip(faces, lives, strict=True):
                animator.render(picture, canvas, frame_shape(shapes, index), float(blinks[index]),
                                HeadPose(*poses[index]))
        return canvas

    size = (picture.shape[1], picture.shape[0])
    encode_frames(out, size, audio, frames, draw, stages, progress)


def render_video(
    video: str | Path,
    audio: str | Path,
    out: str | Path,
    resolution: str = DEFAULT_RESOLUTION,
    mask_image: str | Path | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    limits: media.Limits = media.DEFAULT_LIMITS,
    shapes_from: ShapeSource = model_shapes,
    style: Style | None = None,
) -> RenderResult:
    """Dub a video: its mouth motion is replaced by the new audio's.

    The output is as long as the audio: a longer video is cut, a shorter one plays forwards
    then backwards (and so on) so it never jumps. Of `style`, only expressiveness applies (the
    mouth's amplitude): the video keeps its speaker's own face, head motion and blinks.
    """
    style = Style(expressiveness=style.expressiveness, words=style.words) if style else Style()
    stages = StageTimer()
    seed = resolve_seed(seed)
    with stages.stage("decode"):
        info = media.probe_video(video, limits)
        size = media.output_size(info.width, info.height, resolution)
        speech = media.load_speech(audio, limits)
        mask = _feathered_mask(mask_image, size, limits) if mask_image else None
    frames = _frames_for(speech.size)
    softness = softness_for(size[0] / info.width)
    with stages.stage("inference"):
        shapes = styled_shapes(shapes_from(speech, frames), style.expressiveness)
    # Each opening shows one borrowed interior, chosen for the widest it gets.
    reach = opening_reach(MAX_GAP * shapes[:, 0])
    with tempfile.TemporaryDirectory(prefix="lipsync-") as tmp:
        may_loop = info.seconds is None or info.seconds * media.FPS < frames + 2
        # The frames are kept (on disk) for the render pass when they might loop or are few
        # enough; otherwise the render pass decodes them again.
        keep = may_loop or frames * size[0] * size[1] * 3 <= KEEP_FRAMES_BYTES
        source = LoopingSource(video, size, frames, Path(tmp) if keep else None, limits)
        canvas = np.empty((size[1], size[0], 3), np.uint8)
        palettes: list[InteriorPalette] = []
        # First pass: the speaker's mouth on every source frame shown, tracked once; its open
        # mouths go to the bank (Video Rewrite), so reuse starts at frame 0.
        frames_in = source.decode_all() if keep else media.iter_video_frames(video, size, frames, limits)
        tracker, known, bank = _index_source(frames_in, mask, stages)

        def palette(frame: np.ndarray, landmarks: np.ndarray) -> InteriorPalette:
            # One palette from the first tracked frame keeps the interior's colour steady.
            if not palettes:
                palettes.append(InteriorPalette.from_face(frame, landmarks))
            return palettes[0]

        def draw(index: int) -> np.ndarray:
            nonlocal tracker
            with stages.stage("decode"):
                frame, landmarks = source.frame(index)
            if landmarks is None:
                if index in known:
                    landmarks = known.pop(index)
                else:
                    with stages.stage("faces"):
                        if tracker is None:
                            (face,) = select_faces(frame, count=1, mask=mask)
                            tracker = FaceTracker(face)
                        tracked = tracker.track(frame)
                    landmarks = tracked.landmarks if tracked is not None else None
                source.remember(index, landmarks)
            with stages.stage("render"):
                canvas[:] = frame
                if landmarks is not None:
                    animator = FaceAnimator(frame, landmarks, mask=mask, video=True, softness=softness,
                                            palette=palette(frame, landmarks), bank=bank)
                    animator.render(frame, canvas, frame_shape(shapes, index), reach=float(reach[index]))
            return canvas

        encode_frames(out, size, speech, frames, draw, stages, progress)
    return RenderResult(Path(out), frames, frames / media.FPS, seed, stages.ms, style)


def _index_source(
    frames_in: Iterator[np.ndarray], mask: np.ndarray | None, stages: StageTimer | None = None,
) -> tuple[FaceTracker | None, dict[int, np.ndarray | None], MouthBank]:
    """Track the speaker over the source frames the dub shows and keep the open mouths'
    interiors: the tracker (to go on with, if the render needs it), the landmarks by source
    frame, and the bank. Only landmarks and a few small patches are kept."""
    stages = stages or StageTimer()
    tracker: FaceTracker | None = None
    known: dict[int, np.ndarray | None] = {}
    bank = MouthBank(indexed=True)
    index = 0
    while True:
        with stages.stage("decode"):
            frame = next(frames_in, None)
        if frame is None:
            break
        with stages.stage("faces"):
            if tracker is None:
                (face,) = select_faces(frame, count=1, mask=mask)
                tracker = FaceTracker(face)
            tracked = tracker.track(frame)
            known[index] = tracked.landmarks if tracked is not None else None
            if tracked is not None:
                bank.observe(frame, MouthFrame.from_landmarks(tracked.landmarks, frame))
            else:
                bank.seen += 1
        index += 1
    return tracker, known, bank


class LoopingSource:
    """Source frames in output order: straight through, then back and forth past the end.

    Frames are kept (in a file-backed array under `keep_in`) only when the video might be
    shorter than the audio, since playing backwards needs them again. Without a store, a video
    that ends early holds its last frame.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], frames: int, keep_in: Path | None,
                 limits: media.Limits) -> None:
        self._frames = media.iter_video_frames(path, size, frames, limits)
        self._size = size
        self._needed = frames
        self._store: np.memmap | None = None
        self._tmp = keep_in
        self._last: tuple[np.ndarray, np.ndarray | None] | None = None
        self._decoded = 0
        self._length: int | None = None
        self._landmarks: dict[int, np.ndarray | None] = {}

    def decode_all(self) -> Iterator[np.ndarray]:
        """Every source frame the output shows, decoded (and kept) in order."""
        index = 0
        while self._length is None:
            frame, _ = self.frame(index)
            if self._length is not None:
                return
            yield frame
            index += 1

    def _source_index(self, index: int) -> int:
        if self._length is None or index < self._length:
            return index
        period = 2 * (self._length - 1)
        if period <= 0:
            return 0
        phase = index % period
        return phase if phase < self._length else period - phase

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame to show at output `index`, and its landmarks if already tracked."""
        if self._length is None:
            got = next(self._frames, None)
            if got is not None:
                self._keep(self._decoded, got)
                self._decoded += 1
                self._last = (got, None)
                return got, None
            self._length = self._decoded
        if self._store is None:
            assert self._last is not None, "iter_video_frames yields at least one frame"
            return self._last
        src = self._source_index(index)
        return np.asarray(self._store[src]), self._landmarks.get(src)

    def _keep(self, index: int, frame: np.ndarray) -> None:
        if self._tmp is None:
            return
        if self._store is None:
            width, height = self._size
            self._store = np.memmap(self._tmp / "frames.u8", dtype=np.uint8, mode="w+",
                                    shape=(self._needed, height, width, 3))
        self._store[index] = frame

    def remember(self, index: int, landmarks: np.ndarray | None) -> None:
        if self._length is None or index < self._length:
            if self._tmp is not None:
                self._landmarks[index] = landmarks
            if self._last is not None:
                self._last = (self._last[0], landmarks)


def encode_frames(out: str | Path, size: tuple[int, int], audio: np.ndarray, frames: int,
            draw: Callable[[int], np.ndarray], stages: StageTimer, progress: Progress | None) -> None:
    step = max(1, frames // 50)
    with media.Mp4Writer(out, size, audio=audio) as writer:
        for index in range(frames):
            picture = draw(index)
            with stages.stage("encode"):
                writer.write(picture)
            if progress is not None and (index % step == 0 or index == frames - 1):
                progress((index + 1) / frames, "render")
