"""Triton Python-backend model: an operator's exported Wav2Lip-class generator (`model.onnx`
beside this file, written by `lipsync export-generator`), run by ONNX Runtime.

The Triton bundled in the `nvidia-pytriton` wheel ships only the Python backend, so this file
serves the ONNX file through it; NVIDIA's Triton container serves the same file natively
(`triton_models/production/wav2lip/`). This folder holds only this serving code until an
operator exports a checkpoint: without `config.pbtxt` Triton does not load it. Nothing here
ships weights; exported with random weights (as the tests do) the output is noise.

Triton's dynamic batcher may hand `execute` several requests at once; their frames run as one
ONNX Runtime call. If that call fails, each request gets an error response of its own
(`pb_utils.TritonError`), not an exception.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("face", "mel")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "0"))
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:
        # Triton has checked each input's dtype and dims against the config already.
        tensors = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in INPUTS]
                   for r in requests]
        try:
            batch = {name: np.concatenate([t[i] for t in tensors]).astype(np.float32, copy=False)
                     for i, name in enumerate(INPUTS)}
            (frames,) = self.session.run(["frames"], batch)
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            error = pb_utils.TritonError(f"the generator failed to run: {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        responses = []
        start = 0
        for face, _ in tensors:
            end = start + len(face)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("frames", np.ascontiguousarray(frames[start:end]))]))
            start = end
        return responses

    def finalize(self) -> None:
        self.session = None
