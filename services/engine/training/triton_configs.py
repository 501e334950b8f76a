"""The Triton configurations of the exported mouth model, written beside `model.onnx` on export.

One ONNX file, two servers:
- `<repo>/mouth_shapes/`: the embedded Triton (nvidia-pytriton's bundle has only the Python
  backend), which serves the file through `1/model.py` (ONNX Runtime inside the backend) on CPU;
- `<repo>/production/mouth_shapes/`: NVIDIA's Triton container, which serves it with its native
  `onnxruntime_onnx` platform on a GPU. Its `1/model.onnx` is a symlink to the file above; copy
  the repository with `cp -rL` (or `COPY` after it) to ship it.
"""

from __future__ import annotations

from pathlib import Path

from services.engine.triton_repository import write_model

# The Python-backend model that serves the file in the embedded Triton (serving code, kept in
# the repository; copied when exporting to another one).
SERVING_MODEL = Path(__file__).resolve().parents[3] / "triton_models" / "mouth_shapes" / "1" / "model.py"

_HEADER = """\
# Written by services/engine/training/export.py. features: phonetic features at 100 fps (T a
# multiple of 4; services.engine.mouth.phone_posteriors); shapes: (open, width, round) per 25 fps
# frame; visemes: logits over services.engine.mouth.visemes.
"""

_EMBEDDED = """\
# Served by 1/model.py (ONNX Runtime inside Triton's Python backend, the one backend bundled in
# nvidia-pytriton); production/mouth_shapes serves the same model.onnx natively on a GPU.
name: "mouth_shapes"
backend: "python"
{body}instance_group [ {{ count: 1, kind: KIND_CPU }} ]
parameters {{ key: "intra_op_threads" value {{ string_value: "1" }} }}
"""

_PRODUCTION = """\
# NVIDIA's Triton container: ONNX Runtime natively, on a GPU. 1/model.onnx is a symlink to
# triton_models/mouth_shapes/1/model.onnx: copy this folder with `cp -rL` to ship it.
name: "mouth_shapes"
platform: "onnxruntime_onnx"
{body}instance_group [ {{ count: 1, kind: KIND_GPU }} ]
"""

_BODY = """\
max_batch_size: {max_batch}
input [
  {{ name: "features", data_type: TYPE_FP32, dims: [ -1, {n_features} ] }}
]
output [
  {{ name: "shapes", data_type: TYPE_FP32, dims: [ -1, 3 ] }},
  {{ name: "visemes", data_type: TYPE_FP32, dims: [ -1, {n_visemes} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
"""


def mouth_shapes_configs(max_batch: int, n_features: int, n_visemes: int) -> dict[str, str]:
    """Path inside the repository -> config text, for both servers."""
    body = _BODY.format(max_batch=max_batch, n_features=n_features, n_visemes=n_visemes)
    return {"mouth_shapes/config.pbtxt": _HEADER + _EMBEDDED.format(body=body),
            "production/mouth_shapes/config.pbtxt": _HEADER + _PRODUCTION.format(body=body)}


def write_configs(onnx_path: Path, max_batch: int, n_features: int, n_visemes: int) -> list[Path]:
    """Both configs, the production link, and `1/model.py`, for `<repo>/mouth_shapes/1/model.onnx`."""
    return write_model(onnx_path.resolve().parents[2], "mouth_shapes",
                       mouth_shapes_configs(max_batch, n_features, n_visemes), SERVING_MODEL, onnx_path.name)
