"""The mouth model through a real Triton (nvidia-pytriton's tritonserver, Python backend running
ONNX Runtime, on loopback) against ONNX Runtime in-process, in the same run.

1. Model cost per request and per video frame at 1, 8 and 32 windows per request (a window is
   WINDOW feature frames and yields CORE / 4 = 200 new video frames), median of `--repeats`.
   Both sides run ONNX Runtime with one intra-op thread.
2. A `--seconds` image render end to end: in-process (the render runs the model itself), and
   the way the inference service does it with Triton (speech decoded and the shapes fetched from
   Triton on the event loop first, then the render with those shapes). Best of `--renders`.

    .venv/bin/python bench/triton.py [--repeats 30] [--seconds 10] [--renders 2] [--out bench-out/triton]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import numpy as np

from services.devtools import samples
from services.devtools.triton_server import TritonServer
from services.engine.media import av_io as media
from services.engine.media import speech
from services.engine.mouth import phone_posteriors
from services.engine.mouth.mouth_model import CORE, FEATURES_PER_FRAME, WINDOW
from services.engine.mouth.onnx_backend import OnnxBackend
from services.engine.render import renderer as render
from services.inference.backends.triton import TritonMouthModel
from services.inference.forms import RenderForm
from services.inference.shapes import precompute

BATCHES = (1, 8, 32)
FRAMES_PER_WINDOW = CORE // FEATURES_PER_FRAME
TEXT = ("The quick brown fox jumps over the lazy dog. Peter Piper picked a peck of pickled "
        "peppers, and Bob bought a big blue map. Maybe we can meet at nine, or maybe at ten.")


def _features(batch: int) -> np.ndarray:
    rng = np.random.default_rng(batch)
    return (rng.standard_normal((batch, WINDOW, phone_posteriors.N_FEATURES)) * 3 - 3).astype(np.float32)


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


async def model_costs(triton: TritonMouthModel, repeats: int) -> list[tuple[int, float, float]]:
    """(batch, in-process ms, Triton ms) per request, medians."""
    local = OnnxBackend(threads=1)
    rows = []
    for batch in BATCHES:
        x = _features(batch)
        local.infer(x)
        await triton.infer(x)  # warm both
        local_times, triton_times = [], []
        for _ in range(repeats):  # interleaved, so a busy moment hits both alike
            t = time.perf_counter()
            local.infer(x)
            local_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            await triton.infer(x)
            triton_times.append(time.perf_counter() - t)
        rows.append((batch, _median_ms(local_times), _median_ms(triton_times)))
    return rows


def make_inputs(folder: Path, seconds: float) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    said = speech.synthesize(TEXT, voice="en-us", rate=165)
    wav = folder / "speech.wav"
    speech.save_wav(wav, np.resize(said.audio, int(seconds * said.sample_rate)), said.sample_rate)
    face = samples.save_image(folder / "face.png", samples.astronaut())
    return face, wav


async def render_times(triton: TritonMouthModel, face: Path, wav: Path, out: Path,
                       renders: int) -> dict[str, tuple[float, float]]:
    """mode -> (best wall seconds, its inference ms)."""
    render.mouth_model()  # loaded before timing, as in a running worker
    form = RenderForm("lipsync-image", {"image": "x", "audio": "x"})
    best: dict[str, tuple[float, float]] = {}
    for _ in range(renders):
        t = time.perf_counter()
        result = await asyncio.to_thread(render.render_image, face, wav, out / "local.mp4", seed=1)
        _keep(best, "in-process", time.perf_counter() - t, result.timings.get("inference", 0.0))

        t = time.perf_counter()
        shapes = await precompute(triton, form, {"audio": wav}, media.DEFAULT_LIMITS)
        fetched = (time.perf_counter() - t) * 1000
        result = await asyncio.to_thread(render.render_image, face, wav, out / "triton.mp4", seed=1,
                                         shapes_from=shapes)
        _keep(best, "Triton", time.perf_counter() - t, fetched + result.timings.get("inference", 0.0))
    return best


def _keep(best: dict[str, tuple[float, float]], mode: str, wall: float, inference_ms: float) -> None:
    if mode not in best or wall < best[mode][0]:
        best[mode] = (wall, inference_ms)


async def run(args: argparse.Namespace) -> None:
    face, wav = make_inputs(args.out / "inputs", args.seconds)
    started = time.perf_counter()
    with TritonServer(log_file=args.out / "tritonserver.log") as server:
        print(f"tritonserver ready in {time.perf_counter() - started:.1f} s at {server.grpc_address}")
        triton = TritonMouthModel(server.grpc_address)
        try:
            costs = await model_costs(triton, args.repeats)
            renders = await render_times(triton, face, wav, args.out, args.renders)
        finally:
            await triton.close()

    print(f"\nmouth model per request ({WINDOW} feature frames a window, {FRAMES_PER_WINDOW} video frames "
          f"each; median of {args.repeats})")
    print(f"{'windows':>7} {'in-proc ms':>11} {'Triton ms':>10} {'ratio':>6} {'in-proc us/frame':>17} "
          f"{'Triton us/frame':>16}")
    for batch, local_ms, triton_ms in costs:
        frames = batch * FRAMES_PER_WINDOW
        print(f"{batch:>7} {local_ms:>11.2f} {triton_ms:>10.2f} {triton_ms / local_ms:>6.2f} "
              f"{local_ms * 1000 / frames:>17.1f} {triton_ms * 1000 / frames:>16.1f}")

    print(f"\n{args.seconds:.0f} s image render, 480p (best of {args.renders})")
    print(f"{'models':<11} {'wall s':>7} {'x real':>7} {'inference ms':>13}")
    for mode, (wall, inference_ms) in renders.items():
        print(f"{mode:<11} {wall:>7.2f} {args.seconds / wall:>7.2f} {inference_ms:>13.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--renders", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-out/triton"))
    args = parser.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
