"""The Triton model repository as files: configs current with the exporter, valid ModelConfig
text, the production variant on the same ONNX file, and how `TritonServer` prepares a start."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from services.devtools.triton_server import TRITON_MODELS, make_backend_dir, model_names, server_environment
from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH
from services.engine.mouth.phone_posteriors import N_FEATURES
from services.engine.mouth.visemes import N_VISEMES
from services.engine.training.triton_configs import mouth_shapes_configs, write_configs

MAX_BATCH = 32  # services.engine.mouth.mouth_model.MAX_BATCH: windows per request


def _config(relative: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse((TRITON_MODELS / relative).read_text(), model_config_pb2.ModelConfig())


def test_configs_are_what_the_exporter_writes() -> None:
    for relative, text in mouth_shapes_configs(MAX_BATCH, N_FEATURES, N_VISEMES).items():
        assert (TRITON_MODELS / relative).read_text() == text, f"re-export or fix {relative}"


def test_embedded_and_production_configs_describe_one_model() -> None:
    embedded = _config("mouth_shapes/config.pbtxt")
    production = _config("production/mouth_shapes/config.pbtxt")
    assert (embedded.backend, embedded.platform) == ("python", "")
    assert (production.backend, production.platform) == ("", "onnxruntime_onnx")
    assert [g.kind for g in embedded.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert [g.kind for g in production.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    for config in (embedded, production):
        assert config.name == "mouth_shapes" and config.max_batch_size == MAX_BATCH
        assert config.HasField("dynamic_batching")
        assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
            ("features", model_config_pb2.TYPE_FP32, [-1, N_FEATURES])]
        assert [(o.name, list(o.dims)) for o in config.output] == [
            ("shapes", [-1, 3]), ("visemes", [-1, N_VISEMES])]
    link = TRITON_MODELS / "production" / "mouth_shapes" / "1" / "model.onnx"
    assert link.is_symlink() and link.resolve() == DEFAULT_MODEL_PATH.resolve()
    assert (TRITON_MODELS / "mouth_shapes" / "1" / "model.py").is_file()


def test_export_writes_a_servable_repository_elsewhere(tmp_path: Path) -> None:
    onnx = tmp_path / "repo" / "mouth_shapes" / "1" / "model.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"onnx")
    write_configs(onnx, MAX_BATCH, N_FEATURES, N_VISEMES)
    repo = tmp_path / "repo"
    assert model_names(repo) == ["mouth_shapes"]  # production/ is not taken for a model
    assert (repo / "mouth_shapes" / "1" / "model.py").is_file()
    assert (repo / "production" / "mouth_shapes" / "1" / "model.onnx").read_bytes() == b"onnx"


def test_the_server_is_started_with_linked_backends_and_this_python(tmp_path: Path) -> None:
    pytest.importorskip("pytriton")
    python = make_backend_dir(tmp_path / "backends") / "python"
    names = sorted(p.name for p in python.iterdir())
    assert names == ["libtriton_python.so", "triton_python_backend_stub", "triton_python_backend_utils.py"]
    assert all((python / n).is_symlink() and (python / n).resolve().is_file() for n in names)
    env = server_environment({"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"})
    assert env["PATH"].split(os.pathsep) == [sysconfig.get_path("scripts"), "/usr/bin"]
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[0] == sysconfig.get_config_var("LIBDIR")
    assert "mouth_shapes" in model_names(TRITON_MODELS)
