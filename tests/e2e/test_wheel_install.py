"""A plain wheel install, as an operator or the service image makes it: `pip install` of the built
wheel (not editable) into a fresh environment, run from another directory, renders a video and
serves a job. It finds its model files (triton_models/, shipped as package data) without the
source tree.

Offline and quick: the wheel is installed with `--no-deps`, and the fresh environment sees this
one's site-packages for the dependencies (a `.pth` line: its own `.pth` files, the editable
install among them, are not run). The MediaPipe face files are copied in as `lipsync
fetch-models` would fetch them (it downloads their wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from dev_process import running_dev
from waiting import wait_until

from services.devtools import samples
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "services", "proxy", "protos", "triton_models")
FACE_MODELS = ROOT / "services" / "engine" / "faces" / "assets"


def _run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("LIPSYNC_", "PYTHON", "VIRTUAL_ENV"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin/` of a fresh environment holding only the wheel built from this tree."""
    if not (FACE_MODELS / "face_landmark.tflite").is_file():
        pytest.skip("the face model files are not fetched (make install)")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy, so the build writes nothing into the working tree
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "assets"))
        else:
            shutil.copy2(path, source / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                  "-w", str(tmp / "wheels"), str(source)], cwd=tmp)
    # The build is quiet: no setuptools deprecation screens (license metadata), no data warnings.
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr
    assert "BuildBackendWarning" not in built.stdout + built.stderr
    (wheel,) = (tmp / "wheels").glob("lipsync-*.whl")

    env = tmp / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)], cwd=tmp)
    python = env / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
          "--no-index", str(wheel)], cwd=tmp)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=tmp).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    shutil.copytree(FACE_MODELS, site / "services" / "engine" / "faces" / "assets")
    return env / "bin"


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with no source tree in it, holding the inputs."""
    folder = tmp_path_factory.mktemp("elsewhere")
    samples.save_image(folder / "face.png", samples.grace_hopper())
    samples.save_speech(folder / "speech.wav", "Mop the bump, Bob.")
    return folder


def test_the_installed_package_is_the_wheel_with_its_models(installed: Path, elsewhere: Path) -> None:
    done = _run([str(installed / "python"), "-c",
                 "import services, proxy; "
                 "from services.devtools.triton_server import TRITON_MODELS, model_names; "
                 "from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH; "
                 "print(services.__file__, TRITON_MODELS, DEFAULT_MODEL_PATH, *model_names(TRITON_MODELS))"],
                cwd=elsewhere)
    package, repository, model, *served = done.stdout.split()
    prefix = str(installed.parent)
    assert package.startswith(prefix) and repository.startswith(prefix), done.stdout
    assert Path(model).is_file() and model.startswith(repository)
    assert served == ["mouth_shapes"]  # what `lipsync triton` would serve
    assert (Path(repository) / "mouth_shapes" / "1" / "model.py").is_file()


def test_the_installed_package_renders(installed: Path, elsewhere: Path) -> None:
    _run([str(installed / "lipsync"), "render", "image", "--image", "face.png", "--audio", "speech.wav",
          "--seed", "1", "-o", "out.mp4"], cwd=elsewhere)
    with av.open(str(elsewhere / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


@pytest.fixture
def dev_stack(installed: Path, elsewhere: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    command = [str(installed / "lipsync"), "dev", "--port", str(port)]
    with running_dev(command, port, elsewhere, _clean_env()) as found:
        yield found


def test_the_installed_package_serves_a_job(dev_stack: tuple[str, str], elsewhere: Path) -> None:
    base, key = dev_stack
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        def ready() -> bool:
            try:
                return api.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60, interval=0.1, what="lipsync dev to be ready")
        form = {name: api.post("/api/v1/files", content=(elsewhere / file).read_bytes()).json()["url"]
                for name, file in (("image", "face.png"), ("audio", "speech.wav"))}
        job_id = api.post("/api/v1/lipsync-image", json={"formState": form}).json()["id"]
        job = wait_until(lambda: api.get(f"/api/v1/jobs/{job_id}").json(),
                         until=lambda j: j["status"] != "processing", timeout=120, interval=0.2,
                         what=f"job {job_id} to end")
        assert job["status"] == "completed", job
        assert api.get(job["output"]).content[4:8] == b"ftyp"
    assert (elsewhere / "data" / "outputs" / f"{job_id}.mp4").is_file()
