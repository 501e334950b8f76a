"""Speed of the engine: wall time, times real time and peak memory of each kind of render,
against a bare encode of the same number of frames at the same settings, in the same run.

Each case runs in its own process so its peak memory (max RSS) is its own; process start and
model loading are timed apart from the render itself.

    .venv/bin/python bench/render.py [--seconds 10] [--out bench-out] [--shapes model|phonemes]

`--shapes phonemes` drives the mouth from the speech's true phoneme timings instead of the mouth
model (for timing the renderer alone, or while the model is being retrained).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.engine.render.renderer import ShapeSource

TEXT = ("The quick brown fox jumps over the lazy dog. Peter Piper picked a peck of pickled "
        "peppers, and Bob bought a big blue map. Maybe we can meet at nine, or maybe at ten. "
        "Please remember to bring the paper, the pens and the pictures from the museum.")


def make_inputs(folder: Path, seconds: float, shapes: str = "model") -> dict[str, Path]:
    import numpy as np

    from services.devtools import samples
    from services.engine.media import speech
    from services.engine.mouth import visemes
    from services.engine.mouth.mouth_track import shapes_for_render
    from services.engine.render import renderer as render

    folder.mkdir(parents=True, exist_ok=True)
    utterance = speech.synthesize(TEXT, voice="en-us", rate=165)
    samples_needed = int(seconds * utterance.sample_rate)
    audio = np.resize(utterance.audio, samples_needed)  # repeat to the exact length
    speech.save_wav(folder / "speech.wav", audio, utterance.sample_rate)
    half = speech.synthesize("Hello there, how are you doing today? I am fine.", rate=170)
    speech.save_wav(folder / "half.wav", np.resize(half.audio, samples_needed // 2),
                    half.sample_rate)
    samples.save_image(folder / "face.png", samples.astronaut())
    samples.save_image(folder / "pair.png", samples.two_people())
    track = visemes.shape_track(utterance.phonemes, utterance.duration)
    probs = np.eye(visemes.N_VISEMES, dtype=np.float32)[
        visemes.viseme_track(utterance.phonemes, utterance.duration)]
    np.save(folder / "phoneme_shapes.npy", shapes_for_render(track, probs))
    video = folder / "source.mp4"
    if not video.exists():
        render.render_image(folder / "face.png", folder / "speech.wav", video, seed=3,
                            shapes_from=shape_source(folder, shapes))
    return {"speech": folder / "speech.wav", "half": folder / "half.wav",
            "face": folder / "face.png", "pair": folder / "pair.png", "video": video}


def shape_source(folder: Path, shapes: str) -> ShapeSource:
    """The mouth model's shapes, or the true phonemes' (repeated like the audio)."""
    import numpy as np

    from services.engine.render import renderer as render

    if shapes == "model":
        return render.model_shapes
    track = np.load(folder / "phoneme_shapes.npy")
    return lambda _audio, frames: np.resize(track, (frames, track.shape[1]))


def run_case(case: str, folder: Path, out: Path, shapes: str = "model") -> dict[str, float]:
    """In a fresh process: import, load the model, render, then a bare encode of the same frames."""
    started = time.perf_counter()
    import numpy as np

    from services.engine.media import av_io as media
    from services.engine.render import renderer as render
    imported = time.perf_counter()
    if shapes == "model":
        render.mouth_model().predict(np.zeros(16000, np.float32) + 1e-3, 16000)
    loaded = time.perf_counter()

    inputs = {p.stem: p for p in folder.iterdir()}
    source = shape_source(folder, shapes)
    t0 = time.perf_counter()
    if case.startswith("image"):
        result = render.render_image(inputs["face"], inputs["speech"], out,
                                     resolution=case.split("-")[1], seed=1, shapes_from=source)
    elif case.startswith("video"):
        result = render.render_video(inputs["source"], inputs["speech"], out,
                                     resolution=case.split("-")[1], seed=1, shapes_from=source)
    else:
        result = render.render_multi(inputs["pair"], inputs["half"], inputs["half"], out,
                                     order="left_right", resolution=case.split("-")[1], seed=1,
                                     shapes_from=source)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline's frames

    # The same frames (decoded back from the output) through the same encoder, nothing else:
    # what the render costs beyond encoding its own pictures.
    frames = list(media.iter_video_frames(out, _size(out), result.frames))
    audio = media.load_audio(inputs["speech"], media.OUTPUT_AUDIO_RATE)[
        : int(result.seconds * media.OUTPUT_AUDIO_RATE)]
    t1 = time.perf_counter()
    with media.Mp4Writer(out.with_suffix(".bare.mp4"), _size(out), audio=audio) as writer:
        for frame in frames:
            writer.write(frame)
    bare = time.perf_counter() - t1
    return {"seconds": result.seconds, "frames": result.frames, "wall": wall, "bare": bare,
            "import": imported - started, "load": loaded - imported,
            "peak_mb": peak_mb,
            **{f"ms_{k}": v for k, v in result.timings.items()}}


def _size(path: Path) -> tuple[int, int]:
    from services.engine.media import av_io as media

    info = media.probe_video(path)
    return info.width, info.height


def cli_startup() -> float:
    """Seconds for `lipsync --help`, best of three."""
    exe = Path(sys.executable).with_name("lipsync")
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("bench-out/render"))
    parser.add_argument("--shapes", choices=("model", "phonemes"), default="model",
                        help="mouth shapes from the model, or from the true phonemes")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    folder = args.out / "inputs"
    if args.case:
        print(json.dumps(run_case(args.case, folder, args.out / f"{args.case}.mp4", args.shapes)))
        return 0
    make_inputs(folder, args.seconds, args.shapes)
    cases = ["image-480p", "image-720p", "video-480p", "multi-480p"]
    print(f"{'case':<11} {'out s':>6} {'wall s':>7} {'x real':>7} {'bare s':>7} {'/bare':>6} "
          f"{'peak MB':>8} {'import s':>8} {'load s':>7}  stages (ms)")
    for case in cases:
        done = subprocess.run([sys.executable, __file__, "--case", case, "--out", str(args.out),
                               "--shapes", args.shapes],
                              check=True, capture_output=True, text=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        stages = " ".join(f"{k[3:]}={v:.0f}" for k, v in r.items() if k.startswith("ms_"))
        print(f"{case:<11} {r['seconds']:6.2f} {r['wall']:7.2f} {r['seconds'] / r['wall']:7.1f} "
              f"{r['bare']:7.2f} {r['wall'] / r['bare']:6.2f} {r['peak_mb']:8.0f} "
              f"{r['import']:8.2f} {r['load']:7.2f}  {stages}")
    print(f"\n`lipsync --help` start-up: {cli_startup():.2f} s (best of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
