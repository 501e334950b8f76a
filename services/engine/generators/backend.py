"""Where a generator runs: anything with `generate(face, mel) -> frames` (`FrameGenerator`).

`OnnxFrameGenerator` runs the exported file with ONNX Runtime in this process; the Triton
client (`services.inference.backends.triton.TritonFrameGenerator`) answers the same call from a
server. The render hands either one batches of at most `MAX_BATCH` frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from services.engine.engine_errors import ModelError
from services.engine.generators import wav2lip_audio
from services.engine.triton_repository import model_file

MODEL_NAME = "wav2lip"  # its folder in a Triton model repository, and its Triton name
MAX_BATCH = 32  # frames per call (the Triton config's max_batch_size)
# The exported model's tensors (torch-free, so a render never imports torch).
FACE_SIZE = 96
FACE_CHANNELS = 6  # masked target (3) ++ reference (3)
MEL_BANDS = wav2lip_audio.N_MELS  # 80
MEL_STEPS = wav2lip_audio.WINDOW  # 16 mel frames = 200 ms
DEFAULT_PATH = model_file(MODEL_NAME)  # where `lipsync export-generator` writes it by default


class FrameGenerator(Protocol):
    def generate(self, face: np.ndarray, mel: np.ndarray) -> np.ndarray:
        """face [B, 6, 96, 96] and mel [B, 1, 80, 16] float32 -> frames [B, 3, 96, 96] in [0, 1]."""
        ...


class OnnxFrameGenerator:
    """The exported generator (`lipsync export-generator`) on ONNX Runtime, in this process.

    One session serves every render of the process: `InferenceSession.run` is thread-safe.
    """

    def __init__(self, path: str | Path | None = None, threads: int = 0) -> None:
        self.path = Path(path) if path else DEFAULT_PATH
        if not self.path.is_file():
            raise ModelError(
                f"generator model {self.path} is missing: export a checkpoint with "
                "`lipsync export-generator --checkpoint PATH` (nothing here ships weights)")
        import onnxruntime as ort  # imported here so the engine imports without it

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, threads)  # 0: ONNX Runtime's default (all cores)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load generator model {self.path}: {exc}") from exc

    def generate(self, face: np.ndarray, mel: np.ndarray) -> np.ndarray:
        try:
            (frames,) = self._session.run(["frames"], {
                "face": np.ascontiguousarray(face, np.float32),
                "mel": np.ascontiguousarray(mel, np.float32)})
        except Exception as exc:
            raise ModelError(f"generator model failed to run: {exc}") from exc
        return np.asarray(frames)
