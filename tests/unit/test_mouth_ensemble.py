"""The shipped mouth model is an ensemble: its outputs are its members' averaged, it exports to
the single model's ONNX interface, and the committed checkpoint is the committed ONNX file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH, OnnxBackend
from services.engine.mouth.phone_posteriors import N_FEATURES
from services.engine.training.export import WEIGHTS_DIR, export_onnx, load
from services.engine.training.net import MouthEnsemble, MouthNet


def _features(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.standard_normal((batch, frames, N_FEATURES)) * 3 - 3)
                            .astype(np.float32))


def _randomised(members: int) -> MouthEnsemble:
    torch.manual_seed(3)
    model = MouthEnsemble(members=members, channels=16)
    with torch.no_grad():  # batch norm statistics that differ per member, as trained ones do
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0.0, 0.5)
    return model.eval()


def test_shapes_and_probabilities_are_the_members_mean() -> None:
    model = _randomised(3)
    x = _features(2, 96)
    with torch.no_grad():
        shapes, logits = model(x)
        outs = [member(x) for member in model.members]
    expected_shapes = torch.stack([s for s, _ in outs]).mean(0)
    expected_probs = torch.stack([torch.softmax(v, -1) for _, v in outs]).mean(0)
    assert torch.allclose(shapes, expected_shapes, atol=1e-6)
    # The viseme output stays logits: its softmax is the members' mean probability.
    assert torch.allclose(torch.softmax(logits, -1), expected_probs, atol=1e-6)
    assert not torch.allclose(outs[0][0], outs[1][0])  # the members really differ


def test_ensemble_exports_to_the_single_model_interface(tmp_path: Path) -> None:
    model = _randomised(2)
    path = tmp_path / "repo" / "mouth_shapes" / "1" / "model.onnx"
    report = export_onnx(model, path)
    assert float(str(report["max_abs_diff_vs_torch"])) < 1e-4
    backend = OnnxBackend(path)
    shapes, logits = backend.infer(_features(1, 400).numpy())
    assert shapes.shape == (1, 100, 3)
    assert logits.shape == (1, 100, model.n_visemes)


def test_committed_checkpoint_is_the_committed_onnx_model() -> None:
    model = load(WEIGHTS_DIR / "mouth_shapes.pt")
    assert isinstance(model, MouthEnsemble) and len(model.members) >= 2
    x = _features(1, 800, seed=5)
    with torch.no_grad():
        shapes, logits = model(x)
    onnx_shapes, onnx_logits = OnnxBackend(DEFAULT_MODEL_PATH).infer(x.numpy())
    assert np.abs(onnx_shapes - shapes.numpy()).max() < 1e-4
    assert np.abs(onnx_logits - logits.numpy()).max() < 1e-4


def test_an_ensemble_of_trained_networks_saves_as_the_checkpoint_format() -> None:
    # train.py builds the ensemble from its trained members; `load` rebuilds it from the config.
    trained = _randomised(2)
    built = MouthEnsemble.of([m for m in trained.members if isinstance(m, MouthNet)])
    rebuilt = MouthEnsemble(members=2, channels=16)
    rebuilt.load_state_dict(built.state_dict())
    x = _features(1, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(built(x), rebuilt.eval()(x), strict=True))
