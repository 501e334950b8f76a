"""Writing one model into a Triton model repository, the same way for every exported model:
`<name>/config.pbtxt` + `<name>/1/model.py` (the Python-backend serving code, for the Triton
bundled here) and `production/<name>/` (NVIDIA's container) whose model file links to the one
export, so there is a single copy of the weights."""

from __future__ import annotations

import shutil
from pathlib import Path


def model_repository() -> Path:
    """The Triton model repository the service runs from, where every model file it reads is
    found: `triton_models/` beside the `services` package. In a checkout (or an editable install)
    that is the repository's own top-level folder; a wheel (`pip install .`) installs the same
    files there as package data (pyproject.toml, `[tool.setuptools.package-data]`), so an
    installed service finds them without the source tree."""
    return Path(__file__).resolve().parents[2] / "triton_models"


def model_file(model: str, name: str = "model.onnx") -> Path:
    """`<repository>/<model>/1/<name>`: version 1 of a model, the only one kept."""
    return model_repository() / model / "1" / name


def write_model(repository: Path, name: str, configs: dict[str, str], serving_model: Path,
                onnx_name: str = "model.onnx") -> list[Path]:
    """`configs` maps paths inside the repository to config text; returns the configs written."""
    serving = repository / name / "1" / serving_model.name
    if not serving.exists() or serving.resolve() != serving_model.resolve():
        serving.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(serving_model, serving)
    written = []
    for relative, text in configs.items():
        path = repository / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    link = repository / "production" / name / "1" / "model.onnx"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to(Path("../../..") / name / "1" / onnx_name)
    return written
