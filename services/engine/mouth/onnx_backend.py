"""In-process ONNX Runtime backend for the mouth model: the embedded default, which a Triton
backend with the same `infer` can replace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.engine.engine_errors import ModelError
from services.engine.triton_repository import model_file

DEFAULT_MODEL_PATH = model_file("mouth_shapes")


class OnnxBackend:
    """Runs `model.onnx`: features [B, T, 45] -> (shapes [B, T/4, 3], viseme logits [B, T/4, V])."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = Path(path) if path is not None else DEFAULT_MODEL_PATH
        if not self.path.is_file():
            raise ModelError(
                f"mouth model {self.path} is missing: run "
                "`python -m services.engine.training.train` (or `... .training.export`)"
            )
        import onnxruntime as ort  # imported here so the engine imports without it

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load mouth model {self.path}: {exc}") from exc

    def infer(self, feature_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            shapes, visemes = self._session.run(
                ["shapes", "visemes"], {"features": np.ascontiguousarray(feature_batch, np.float32)}
            )
        except Exception as exc:
            raise ModelError(f"mouth model failed to run: {exc}") from exc
        return np.asarray(shapes), np.asarray(visemes)
