"""The Triton configurations of an exported generator, written beside its `model.onnx`.

As for the mouth model (`services/engine/training/triton_configs.py`), one ONNX file, two servers:
- `<repo>/wav2lip/`: the Triton bundled in nvidia-pytriton (Python backend only), serving the
  file through `1/model.py` (ONNX Runtime inside the backend) on CPU;
- `<repo>/production/wav2lip/`: NVIDIA's Triton container, natively (`onnxruntime_onnx`) on a
  GPU; its `1/model.onnx` links to the file above (ship it with `cp -rL`).

All of it is written at the operator's request (`lipsync export-generator`) and none of it is
committed: a config without its weights would keep Triton from starting, and the weights are
the operator's.
"""

from __future__ import annotations

from pathlib import Path

from services.engine.generators.backend import (
    FACE_CHANNELS,
    FACE_SIZE,
    MAX_BATCH,
    MEL_BANDS,
    MEL_STEPS,
    MODEL_NAME,
)
from services.engine.triton_repository import model_file, write_model

# The Python-backend model serving the file in the embedded Triton (serving code, committed).
SERVING_MODEL = model_file(MODEL_NAME, "model.py")

_HEADER = """\
# Written by `lipsync export-generator` (services/engine/generators/export.py) from an operator's
# checkpoint. face: masked target ++ reference face, BGR in [0, 1]; mel: 80 bands x 16 frames
# (200 ms, values in [-4, 4]); frames: the generated face, BGR in [0, 1].
"""

_EMBEDDED = """\
# Served by 1/model.py (ONNX Runtime inside Triton's Python backend, the one backend bundled in
# nvidia-pytriton); production/{name} serves the same model.onnx natively on a GPU.
name: "{name}"
backend: "python"
{body}instance_group [ {{ count: 1, kind: KIND_CPU }} ]
parameters {{ key: "intra_op_threads" value {{ string_value: "0" }} }}
"""

_PRODUCTION = """\
# NVIDIA's Triton container: ONNX Runtime natively, on a GPU. 1/model.onnx is a symlink to
# ../../../{name}/1/model.onnx: copy this folder with `cp -rL` to ship it.
name: "{name}"
platform: "onnxruntime_onnx"
{body}instance_group [ {{ count: 1, kind: KIND_GPU }} ]
"""

_BODY = """\
max_batch_size: {max_batch}
input [
  {{ name: "face", data_type: TYPE_FP32, dims: [ {channels}, {size}, {size} ] }},
  {{ name: "mel", data_type: TYPE_FP32, dims: [ 1, {bands}, {steps} ] }}
]
output [
  {{ name: "frames", data_type: TYPE_FP32, dims: [ 3, {size}, {size} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
"""


def generator_configs(name: str = MODEL_NAME, max_batch: int = MAX_BATCH) -> dict[str, str]:
    """Path inside the repository -> config text, for both servers."""
    body = _BODY.format(max_batch=max_batch, channels=FACE_CHANNELS, size=FACE_SIZE,
                        bands=MEL_BANDS, steps=MEL_STEPS)
    return {f"{name}/config.pbtxt": _HEADER + _EMBEDDED.format(name=name, body=body),
            f"production/{name}/config.pbtxt": _HEADER + _PRODUCTION.format(name=name, body=body)}


def write_configs(repository: Path, name: str = MODEL_NAME) -> list[Path]:
    """Both configs, the production link and `1/model.py` around `<repository>/<name>/1/model.onnx`."""
    return write_model(repository, name, generator_configs(name), SERVING_MODEL)
