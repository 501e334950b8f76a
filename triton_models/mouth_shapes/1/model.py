"""Triton Python-backend model: the mouth-shape ONNX file beside this one, run by ONNX Runtime.

The Triton bundled in the `nvidia-pytriton` wheel ships only the Python backend, so this file
serves `model.onnx` through it. NVIDIA's Triton container serves the same file natively
(`platform: "onnxruntime_onnx"`, see `triton_models/production/`); both answer identically.

Triton's dynamic batcher may hand `execute` several requests at once: those whose windows have
the same length run as one ONNX Runtime call. A request that cannot run gets an error response
of its own (`pb_utils.TritonError`); the other requests in the batch still get their answers.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

STEPS_PER_FRAME = 4  # 100 feature frames/s in, 25 video frames/s out
OUTPUTS = ("shapes", "visemes")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "1"))
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.n_features = int(pb_utils.get_input_config_by_name(config, "features")["dims"][-1])

    def execute(self, requests: list) -> list:
        responses: list = [None] * len(requests)
        by_length: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, request in enumerate(requests):
            steps = pb_utils.get_input_tensor_by_name(request, "features").as_numpy()
            problem = self._problem(steps)
            if problem:
                responses[i] = _error(problem, pb_utils.TritonError.INVALID_ARG)
            else:
                by_length.setdefault(steps.shape[1], []).append((i, steps))
        for group in by_length.values():
            try:
                batch = np.concatenate([x for _, x in group]).astype(np.float32, copy=False)
                shapes, visemes = self.session.run(list(OUTPUTS), {"features": batch})
            except Exception as exc:  # ONNX Runtime raises its own untyped errors
                for i, _ in group:
                    responses[i] = _error(f"the mouth model failed to run: {exc}")
                continue
            start = 0
            for i, x in group:
                end = start + len(x)
                responses[i] = pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor(name, np.ascontiguousarray(out[start:end]))
                    for name, out in zip(OUTPUTS, (shapes, visemes), strict=True)])
                start = end
        return responses

    def finalize(self) -> None:
        self.session = None

    def _problem(self, steps: np.ndarray) -> str:
        """Why `steps` cannot run, or "" (Triton has already checked dtype and rank)."""
        if steps.shape[1] == 0 or steps.shape[1] % STEPS_PER_FRAME:
            return (f"features must have a positive multiple of {STEPS_PER_FRAME} frames, "
                    f"got {steps.shape[1]}")
        if steps.shape[2] != self.n_features:
            return f"features must have {self.n_features} values a frame, got {steps.shape[2]}"
        return ""


def _error(message: str, code: int | None = None) -> object:
    error = pb_utils.TritonError(message) if code is None else pb_utils.TritonError(message, code)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)
