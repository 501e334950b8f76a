"""Model files the engine runs that ship inside registry packages.

MediaPipe's face detector and face-mesh TFLite files (Apache-2.0) ship in the `mediapipe==0.10.21`
wheel. That package pins protobuf < 5, which clashes with gRPC's codegen, so we take the two files
out of the wheel instead of installing it: `python -m services.engine.faces.assets` (run by `make install`).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"

# file name -> (path inside the wheel, sha256)
FACE_MODELS: dict[str, tuple[str, str]] = {
    "face_detection_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_landmark.tflite": (
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    ),
}


class ModelFilesMissing(RuntimeError):
    """The face model files have not been fetched yet."""


def model_dir() -> Path:
    """Where the model files live: `assets/` beside this module (filled by `make install`)."""
    return Path(__file__).with_name("assets")


def model_path(name: str) -> Path:
    path = model_dir() / name
    if not path.is_file():
        raise ModelFilesMissing(
            f"model file {path} is missing: run `make install` or `python -m services.engine.faces.assets`"
        )
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_face_models(target: Path | None = None) -> Path:
    """Download the MediaPipe wheel (no dependencies) and extract the face models, checked by hash."""
    target = target or model_dir()
    target.mkdir(parents=True, exist_ok=True)
    if all((target / n).is_file() and _sha256(target / n) == h for n, (_, h) in FACE_MODELS.items()):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--python-version", "3.11", "--platform",
             "manylinux_2_28_x86_64", MEDIAPIPE_WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name, (inner, digest) in FACE_MODELS.items():
                data = zf.read(inner)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise RuntimeError(f"{inner} in {wheel.name} has an unexpected hash")
                (target / name).write_bytes(data)
    return target


if __name__ == "__main__":
    print(fetch_face_models())
