"""The operator-model path, end to end, with a randomly initialised Wav2Lip-class generator.

No trained weights exist here, so these tests prove shapes, plumbing and where pixels change,
never that lips move well: the generated mouth region is noise. A checkpoint is written from a
random network (with "module." prefixes under "state_dict", as DataParallel training saves it),
exported through the CLI into a temporary model repository, and rendered in-process (ONNX
Runtime) and through a real Triton server (the nvidia-pytriton wheel's).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from google.protobuf import text_format
from stacks import serving_folder
from tritonclient.grpc import model_config_pb2

from services.cli import commands as cli
from services.core import billing
from services.core.settings import Settings
from services.devtools import samples
from services.devtools.triton_server import TritonServer, model_names
from services.engine.engine_errors import ModelError
from services.engine.faces.face_boxes import FaceTracker, select_faces
from services.engine.generators import wav2lip_render
from services.engine.generators.backend import OnnxFrameGenerator
from services.engine.generators.export import TOLERANCE, example_inputs
from services.engine.generators.triton_config import generator_configs
from services.engine.generators.wav2lip_net import (
    CheckpointMismatch,
    Wav2LipGenerator,
    load_checkpoint,
    random_generator,
)
from services.engine.media import av_io as media
from services.engine.render.renderer import RenderResult
from services.inference.backends.triton import TritonFrameGenerator
from services.inference.forms import RenderForm
from services.inference.pipeline import JobPipeline, Outcome
from services.inference.rendering import frame_generator, render_form
from services.store.accounts import AccountStore
from services.store.connection import RedisClient
from services.store.jobs import JobStore

pytestmark = pytest.mark.slow
FRAMES = 50  # a 2 s clip at 25 fps


@dataclass
class Exported:
    repository: Path
    onnx: Path


@dataclass
class Clip:
    video: Path
    audio: Path
    size: tuple[int, int]
    frames: np.ndarray  # the source as the render decodes it


def _checkpoint(path: Path, model: Wav2LipGenerator) -> Path:
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 0}, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    folder = tmp_path_factory.mktemp("wav2lip")
    checkpoint = _checkpoint(folder / "random.pth", random_generator())
    repository = folder / "models"
    assert cli.main(["export-generator", "--checkpoint", str(checkpoint), "--out", str(repository)]) == 0
    return Exported(repository, repository / "wav2lip" / "1" / "model.onnx")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """A still portrait held for 2 s as a video, and 2 s of speech."""
    folder = tmp_path_factory.mktemp("clip")
    still = samples.grace_hopper()
    size = media.output_size(still.shape[1], still.shape[0], "480p")
    still = cv2.resize(still, size, interpolation=cv2.INTER_AREA)
    with media.Mp4Writer(folder / "source.mp4", size) as writer:
        for _ in range(FRAMES):
            writer.write(still)
    utterance = samples.save_speech(folder / "speech.wav", "Bob bought a map for Pam.")
    assert round(utterance.duration * 25) == FRAMES
    decoded = np.stack(list(media.iter_video_frames(folder / "source.mp4", size, FRAMES)))
    return Clip(folder / "source.mp4", folder / "speech.wav", size, decoded)


@pytest.fixture(scope="module")
def in_process(exported: Exported) -> OnnxFrameGenerator:
    return OnnxFrameGenerator(exported.onnx)


@pytest.fixture(scope="module")
def triton(exported: Exported) -> Iterator[TritonServer]:
    with TritonServer(exported.repository) as server:
        yield server


class _Recorder:
    """Keeps every frame the render hands the encoder (the MP4 itself is lossy)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames: list[np.ndarray] = []
        recorder = self

        class Writer(media.Mp4Writer):
            def write(self, rgb: np.ndarray) -> None:
                recorder.frames.append(rgb.copy())
                super().write(rgb)

        monkeypatch.setattr(media, "Mp4Writer", Writer)


@dataclass
class Dub:
    path: Path
    result: RenderResult
    frames: np.ndarray  # as handed to the encoder


@pytest.fixture(scope="module")
def local_dub(clip: Clip, in_process: OnnxFrameGenerator,
              tmp_path_factory: pytest.TempPathFactory) -> Dub:
    """The clip dubbed in-process, once for the tests that look at it."""
    out = tmp_path_factory.mktemp("dub") / "dub.mp4"
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder = _Recorder(monkeypatch)
        result = wav2lip_render.render_video(clip.video, clip.audio, out, in_process)
    return Dub(out, result, np.stack(recorder.frames))


def _squares(frames: np.ndarray) -> list[wav2lip_render.FaceSquare]:
    """Each frame's face square, tracked as the render tracks it."""
    (face,) = select_faces(frames[0])
    tracker = FaceTracker(face)
    squares = []
    for frame in frames:
        tracked = tracker.track(frame)
        assert tracked is not None
        squares.append(wav2lip_render.face_square(tracked.landmarks))
    return squares


def _stream(path: Path) -> tuple[tuple[int, int], int, float, bool]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        size = (video.codec_context.width, video.codec_context.height)
        count = sum(1 for _ in container.decode(video))
        seconds = float(container.duration or 0) / av.time_base
        return size, count, seconds, bool(container.streams.audio)


def test_random_network_maps_faces_and_mels_to_frames() -> None:
    model = random_generator()
    face, mel = example_inputs(2)
    with torch.no_grad():
        frames = model(torch.from_numpy(face), torch.from_numpy(mel))
    assert frames.shape == (2, 3, 96, 96)
    assert float(frames.min()) > 0 and float(frames.max()) < 1  # a sigmoid
    assert 35e6 < sum(p.numel() for p in model.parameters()) < 38e6  # the published ~36 M


def test_checkpoint_loader_strips_prefixes_and_names_every_mismatch(tmp_path: Path) -> None:
    model = random_generator(seed=3)
    loaded = load_checkpoint(_checkpoint(tmp_path / "ok.pth", model))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    state = dict(model.state_dict())
    del state["output_block.1.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["audio_encoder.0.conv_block.0.weight"] = torch.zeros(32, 1, 5, 5)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatch) as caught:
        load_checkpoint(tmp_path / "bad.pth")
    message = str(caught.value)
    assert "missing keys (1): output_block.1.weight" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "audio_encoder.0.conv_block.0.weight (32, 1, 5, 5) != (32, 1, 3, 3)" in message


def test_export_matches_torch_and_writes_both_triton_configs(exported: Exported,
                                                             in_process: OnnxFrameGenerator) -> None:
    model = random_generator()  # what the fixture's checkpoint holds
    face, mel = example_inputs(5, seed=7)  # a batch size the export never saw
    with torch.no_grad():
        expected = model(torch.from_numpy(face), torch.from_numpy(mel)).numpy()
    got = in_process.generate(face, mel)
    assert got.shape == (5, 3, 96, 96)
    assert np.abs(got - expected).max() < TOLERANCE

    repository = exported.repository
    assert model_names(repository) == ["wav2lip"]  # production/ is not taken for a model
    for relative, text in generator_configs().items():
        assert (repository / relative).read_text() == text
    embedded, production = (
        text_format.Parse((repository / relative).read_text(), model_config_pb2.ModelConfig())
        for relative in ("wav2lip/config.pbtxt", "production/wav2lip/config.pbtxt"))
    assert (embedded.backend, production.platform) == ("python", "onnxruntime_onnx")
    assert [g.kind for g in production.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    for config in (embedded, production):
        assert config.max_batch_size == 32 and config.HasField("dynamic_batching")
        assert [(i.name, list(i.dims)) for i in config.input] == [("face", [6, 96, 96]),
                                                                  ("mel", [1, 80, 16])]
        assert [(o.name, list(o.dims)) for o in config.output] == [("frames", [3, 96, 96])]
    link = repository / "production" / "wav2lip" / "1" / "model.onnx"
    assert link.is_symlink() and link.resolve() == exported.onnx.resolve()
    assert (repository / "wav2lip" / "1" / "model.py").is_file()


def test_render_changes_only_the_lower_half_of_the_face(clip: Clip, local_dub: Dub,
                                                         tmp_path: Path) -> None:
    assert local_dub.result.frames == FRAMES
    size, count, seconds, has_audio = _stream(local_dub.path)
    assert size == clip.size and count == FRAMES and has_audio
    assert abs(seconds - 2.0) < 0.1

    # Exactly: each frame handed to the encoder differs from its source frame only inside the
    # lower half of that frame's face square, and most of that half did change.
    assert len(local_dub.frames) == FRAMES
    for frame, source, square in zip(local_dub.frames, clip.frames, _squares(clip.frames),
                                     strict=True):
        changed = np.any(frame != source, axis=2)
        x0, y0, x1, y1 = square.lower_half
        region = np.zeros_like(changed)
        region[y0:y1, x0:x1] = True
        assert not changed[~region].any()
        assert changed[region].mean() > 0.8

    # And in the MP4 (lossy): compared with the source re-encoded alike, the frames differ
    # inside the region and hardly anywhere else.
    control = tmp_path / "control.mp4"
    with media.Mp4Writer(control, clip.size) as writer:
        for frame in clip.frames:
            writer.write(frame)
    ours = np.stack(list(media.iter_video_frames(local_dub.path, clip.size, FRAMES))).astype(np.int16)
    theirs = np.stack(list(media.iter_video_frames(control, clip.size, FRAMES))).astype(np.int16)
    diff = np.abs(ours - theirs).mean(axis=(0, 3))
    x0, y0, x1, y1 = _squares(clip.frames)[0].lower_half
    inside = np.zeros(diff.shape, bool)
    inside[y0:y1, x0:x1] = True
    near = np.zeros(diff.shape, bool)
    near[max(y0 - 16, 0):y1 + 16, max(x0 - 16, 0):x1 + 16] = True
    assert diff[inside].mean() > 10
    assert diff[~near].mean() < 0.5


def test_image_mode_through_the_worker_entry_point(
        clip: Clip, exported: Exported, tmp_path: Path) -> None:
    image = samples.save_image(tmp_path / "face.png", clip.frames[0])
    samples.save_speech(tmp_path / "short.wav", "Pop.")  # a few frames are enough here
    settings = Settings(generator="wav2lip", generator_model=str(exported.onnx))
    generator = frame_generator(settings)
    assert isinstance(generator, OnnxFrameGenerator)
    form = RenderForm("lipsync-image", resolution="480p")
    out = tmp_path / "still.mp4"
    result = render_form(form, {"image": image, "audio": tmp_path / "short.wav"}, out, 1,
                         media.DEFAULT_LIMITS, generator=generator)
    assert 5 < result.frames < FRAMES
    assert _stream(out)[:2] == (clip.size, result.frames)


def test_generator_settings() -> None:
    env = {"LIPSYNC_GENERATOR": "Wav2Lip", "LIPSYNC_GENERATOR_MODEL": "/models/w.onnx"}
    settings = Settings.from_env(env)
    assert (settings.generator, settings.generator_model) == ("wav2lip", "/models/w.onnx")
    assert frame_generator(Settings()) is None
    with pytest.raises(ValueError, match="LIPSYNC_GENERATOR"):
        frame_generator(Settings(generator="musetalk"))
    with pytest.raises(ModelError, match="export-generator"):
        frame_generator(Settings(generator="wav2lip", generator_model="/nonexistent/model.onnx"))


def test_triton_answers_as_in_process(
        triton: TritonServer, clip: Clip, in_process: OnnxFrameGenerator, local_dub: Dub,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the worker picks it: a generator and a Triton URL select the Triton client.
    remote = frame_generator(Settings(generator="wav2lip", triton_url=triton.grpc_address))
    assert isinstance(remote, TritonFrameGenerator) and remote.ready()
    face, mel = example_inputs(32, seed=11)  # a full batch: ~7 MB each way
    assert np.abs(remote.generate(face, mel) - in_process.generate(face, mel)).max() < 1e-5

    recorder = _Recorder(monkeypatch)
    form = RenderForm("lipsync-video", resolution="480p")
    render_form(form, {"video": clip.video, "audio": clip.audio}, tmp_path / "triton.mp4", 1,
                media.DEFAULT_LIMITS, generator=remote)
    served = np.stack(recorder.frames)
    assert served.shape == local_dub.frames.shape == (FRAMES, clip.size[1], clip.size[0], 3)
    assert np.abs(served.astype(np.int16) - local_dub.frames).max() <= 1  # rounding of equal floats


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over loopback HTTP, as a job's inputs are fetched."""
    with serving_folder(tmp_path) as base:
        yield tmp_path, base


async def test_the_worker_renders_with_the_configured_generator(
        redis: RedisClient, settings: Settings, exported: Exported, clip: Clip,
        served: tuple[Path, str]) -> None:
    folder, base = served
    samples.save_image(folder / "face.png", clip.frames[0])
    samples.save_speech(folder / "short.wav", "Pop.")
    settings = settings.with_(generator="wav2lip", generator_model=str(exported.onnx))
    jobs = JobStore(redis)
    account = (await AccountStore(redis).create_key("wav2lip", credits=100)).account_id
    job = await jobs.submit(account, "lipsync-image",
                            {"image": f"{base}/face.png", "audio": f"{base}/short.wav"}, "", "480p",
                            None, reserve=billing.minimum_cost("480p"))
    pipeline = JobPipeline(settings, jobs)
    try:
        assert await pipeline.run(job.id, threading.Event()) == Outcome.COMPLETED
    finally:
        await pipeline.close()

    # The generator's mark: the still changes inside the lower half of the face and nowhere
    # else (the built-in engine would also sway the head and blink).
    output = settings.data_dir / (await jobs.get(job.id)).output_key
    frames = np.stack(list(media.iter_video_frames(output, clip.size, 100))).astype(np.int16)
    diff = np.abs(frames - clip.frames[0].astype(np.int16)).mean(axis=(0, 3))
    x0, y0, x1, y1 = _squares(clip.frames[:1])[0].lower_half
    near = np.zeros(diff.shape, bool)
    near[max(y0 - 16, 0):y1 + 16, max(x0 - 16, 0):x1 + 16] = True
    assert diff[y0:y1, x0:x1].mean() > 10
    assert diff[~near].mean() < 2  # two generations of H.264 noise, no motion
