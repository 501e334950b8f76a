"""Export an operator's Wav2Lip-class checkpoint to ONNX, with its Triton configurations.

    lipsync export-generator --checkpoint wav2lip.pth [--out triton_models]

writes `<out>/wav2lip/1/model.onnx` (inputs `face` [B, 6, 96, 96] and `mel` [B, 1, 80, 16],
output `frames` [B, 3, 96, 96]; dynamic batch), `<out>/wav2lip/config.pbtxt` with `1/model.py`
for the Triton here, and `<out>/production/wav2lip/` for NVIDIA's container, then checks that
ONNX Runtime's output equals torch's.

Nothing here ships or downloads weights. `--random-weights` exports a randomly initialised
network instead, which is how the path is tested here: its output is noise.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from services.engine.generators.backend import (
    FACE_CHANNELS,
    FACE_SIZE,
    MEL_BANDS,
    MEL_STEPS,
    MODEL_NAME,
    OnnxFrameGenerator,
)
from services.engine.generators.triton_config import write_configs
from services.engine.generators.wav2lip_net import Wav2LipGenerator, load_checkpoint, random_generator

TOLERANCE = 1e-4  # |ONNX Runtime - torch| on outputs in [0, 1]
OPSET = 17


@dataclass(frozen=True)
class Exported:
    onnx: Path
    configs: list[Path]
    sha256: str
    max_abs_diff_vs_torch: float


def example_inputs(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs of the exported shapes: faces in [0, 1], mels in [-4, 4]."""
    rng = np.random.default_rng(seed)
    face = rng.random((batch, FACE_CHANNELS, FACE_SIZE, FACE_SIZE), dtype=np.float32)
    mel = rng.uniform(-4, 4, (batch, 1, MEL_BANDS, MEL_STEPS)).astype(np.float32)
    return face, mel


def export_onnx(model: Wav2LipGenerator, path: Path) -> Path:
    """`model` (in eval mode) to ONNX at `path`, batch dimension dynamic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    face, mel = (torch.from_numpy(a) for a in example_inputs(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns that it is legacy
        torch.onnx.export(
            model.eval(), (face, mel), str(path), input_names=["face", "mel"],
            output_names=["frames"],
            dynamic_axes={"face": {0: "batch"}, "mel": {0: "batch"}, "frames": {0: "batch"}},
            opset_version=OPSET, dynamo=False)
    return path


def verify(model: Wav2LipGenerator, path: Path, batches: tuple[int, ...] = (1, 3)) -> float:
    """Largest |ONNX Runtime - torch| over random batches; raises if above `TOLERANCE`."""
    runtime = OnnxFrameGenerator(path)
    worst = 0.0
    for batch in batches:
        face, mel = example_inputs(batch, seed=batch)
        with torch.no_grad():
            expected = model(torch.from_numpy(face), torch.from_numpy(mel)).numpy()
        worst = max(worst, float(np.abs(runtime.generate(face, mel) - expected).max()))
    if worst > TOLERANCE:
        raise RuntimeError(f"ONNX output differs from torch by {worst:.2e} (> {TOLERANCE})")
    return worst


def export_generator(model: Wav2LipGenerator, repository: Path, name: str = MODEL_NAME) -> Exported:
    """The model and its Triton configs into a model repository, checked against torch."""
    onnx = export_onnx(model, repository / name / "1" / "model.onnx")
    configs = write_configs(repository, name)
    diff = verify(model, onnx)
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()
    return Exported(onnx, configs, digest, diff)


def run(checkpoint: Path | None, out: Path, random_weights: bool = False) -> Exported:
    """`lipsync export-generator`: exactly one of a checkpoint or `random_weights`."""
    if (checkpoint is None) == (not random_weights):
        raise ValueError("give either --checkpoint PATH or --random-weights")
    model = random_generator() if checkpoint is None else load_checkpoint(checkpoint)
    return export_generator(model, out)
