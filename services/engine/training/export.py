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

from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH, OnnxBackend
from services.engine.mouth.phone_posteriors import N_FEATURES
from services.engine.training.net import MouthEnsemble, MouthNet
from services.engine.training.triton_configs import write_configs

REPO = Path(__file__).resolve().parents[3]
WEIGHTS_DIR = REPO / "services" / "engine" / "weights"
TOLERANCE = 1e-4
MAX_BATCH = 32


def load(weights: Path) -> MouthNet | MouthEnsemble:
    """The model in a checkpoint written by train.py ({"config": ..., "state_dict": ...}): an
    ensemble when its config names `members`, else a single MouthNet."""
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    config = dict(ckpt["config"])
    model: MouthNet | MouthEnsemble = (
        MouthEnsemble(**config) if "members" in config else MouthNet(**config))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export_onnx(model: MouthNet | MouthEnsemble, path: Path = DEFAULT_MODEL_PATH) -> dict[str, object]:
    """Write model.onnx (opset 17, dynamic batch and time) and the Triton configs (embedded and
    production, see triton_configs.py); check vs torch."""
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns that it is legacy
        torch.onnx.export(
            model, (torch.zeros(1, 400, N_FEATURES),), str(path),
            input_names=["features"], output_names=["shapes", "visemes"],
            dynamic_axes={"features": {0: "batch", 1: "time"}, "shapes": {0: "batch", 1: "frames"},
                          "visemes": {0: "batch", 1: "frames"}},
            opset_version=17, dynamo=False,
        )
    n_visemes = model.n_visemes
    write_configs(path, MAX_BATCH, N_FEATURES, n_visemes)
    max_diff = verify(model, path)
    return {"onnx": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "max_abs_diff_vs_torch": max_diff}


def verify(model: MouthNet | MouthEnsemble, path: Path) -> float:
    """Largest |ONNX Runtime - torch| over random batches of several shapes; raises if > 1e-4."""
    backend = OnnxBackend(path)
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch, frames in ((1, 400), (3, 864), (2, 1004)):
        x = (rng.standard_normal((batch, frames, N_FEATURES)) * 3 - 3).astype(np.float32)
        with torch.no_grad():
            ts, tv = model(torch.from_numpy(x))
        os_, ov = backend.infer(x)
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
