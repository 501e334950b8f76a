"""Export the trained mouth model to ONNX for ONNX Runtime and Triton, and check it matches torch.

    python -m services.engine.training.export [--weights services/engine/weights/mouth_shapes.pt]
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from services.engine.features import N_MELS
from services.engine.onnx_backend import DEFAULT_MODEL_PATH, OnnxBackend
from services.engine.training.net import MouthNet

REPO = Path(__file__).resolve().parents[3]
WEIGHTS_DIR = REPO / "services" / "engine" / "weights"
TOLERANCE = 1e-4
MAX_BATCH = 32

_CONFIG = """\
# Written by services/engine/training/export.py. mel: log-mel frames at 100 fps (T a multiple of
# 4); shapes: (open, width, round) per 25 fps frame; visemes: logits over services.engine.visemes.
name: "mouth_shapes"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch}
input [
  {{ name: "mel", data_type: TYPE_FP32, dims: [ -1, {n_mels} ] }}
]
output [
  {{ name: "shapes", data_type: TYPE_FP32, dims: [ -1, 3 ] }},
  {{ name: "visemes", data_type: TYPE_FP32, dims: [ -1, {n_visemes} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
instance_group [ {{ count: 1, kind: KIND_CPU }} ]
"""


def load(weights: Path) -> MouthNet:
    """A MouthNet from a checkpoint written by train.py ({"config": ..., "state_dict": ...})."""
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    model = MouthNet(**ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export_onnx(model: MouthNet, path: Path = DEFAULT_MODEL_PATH) -> dict[str, object]:
    """Write model.onnx (opset 17, dynamic batch and time) and config.pbtxt; check vs torch."""
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns that it is legacy
        torch.onnx.export(
            model, (torch.zeros(1, 400, N_MELS),), str(path),
            input_names=["mel"], output_names=["shapes", "visemes"],
            dynamic_axes={"mel": {0: "batch", 1: "time"}, "shapes": {0: "batch", 1: "frames"},
                          "visemes": {0: "batch", 1: "frames"}},
            opset_version=17, dynamo=False,
        )
    n_visemes = int(model.visemes.out_channels)
    config = _CONFIG.format(max_batch=MAX_BATCH, n_mels=N_MELS, n_visemes=n_visemes)
    (path.parent.parent / "config.pbtxt").write_text(config)
    max_diff = verify(model, path)
    return {"onnx": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "max_abs_diff_vs_torch": max_diff}


def verify(model: MouthNet, path: Path) -> float:
    """Largest |ONNX Runtime - torch| over random batches of several shapes; raises if > 1e-4."""
    backend = OnnxBackend(path)
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch, frames in ((1, 400), (3, 864), (2, 1004)):
        mel = (rng.standard_normal((batch, frames, N_MELS)) * 3 - 8).astype(np.float32)
        with torch.no_grad():
            ts, tv = model(torch.from_numpy(mel))
        os_, ov = backend.infer(mel)
        worst = max(worst, float(np.abs(os_ - ts.numpy()).max()),
                    float(np.abs(ov - tv.numpy()).max()))
    if worst > TOLERANCE:
        raise RuntimeError(f"ONNX output differs from torch by {worst:.2e} (> {TOLERANCE})")
    return worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR / "mouth_shapes.pt")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    args = parser.parse_args(argv)
    print(export_onnx(load(args.weights), args.out))


if __name__ == "__main__":
    main()
