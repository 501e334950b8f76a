"""`make demo` (engine part): the three kinds of render on sample inputs, saved to ./demo-out/.

Inputs are made here: public-domain faces from registry packages and speech synthesised with
espeak-ng. The video to dub is itself a render of a portrait saying something else, so the
dub has a moving mouth to neutralise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from services.devtools import samples
from services.engine.render import renderer as render

LINES = {
    "image": "Hello! My name is Eileen. I flew the space shuttle, and I am happy to meet you.",
    "source": "This is the original sentence, spoken before the dubbing.",
    "dub": "Maybe the baby bought a purple map, but nobody plans to pay for it.",
    "left": "Good morning. How was the trip to Boston?",
    "right": "Pretty good, but the plane was an hour late.",
}


def make_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "astronaut": samples.save_image(folder / "astronaut.png", samples.astronaut()),
        "hopper": samples.save_image(folder / "grace_hopper.jpg", samples.grace_hopper()),
        "pair": samples.save_image(folder / "two_people.png", samples.two_people()),
    }
    voices = {"image": ("en-us", "f1"), "source": ("en", "m3"), "dub": ("en-us", "m1"),
              "left": ("en-us", "f4"), "right": ("en", "m2")}
    for name, text in LINES.items():
        voice, variant = voices[name]
        samples.save_speech(folder / f"{name}.wav", text, voice=voice, variant=variant)
        paths[name] = folder / f"{name}.wav"
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    out: Path = args.out
    inputs = make_inputs(out / "inputs")
    jobs = [
        ("image", lambda: render.render_image(
            inputs["astronaut"], inputs["image"], out / "image.mp4", seed=args.seed)),
        ("video source", lambda: render.render_image(
            inputs["hopper"], inputs["source"], out / "inputs" / "source_video.mp4", seed=1)),
        ("video", lambda: render.render_video(
            out / "inputs" / "source_video.mp4", inputs["dub"], out / "video.mp4", seed=args.seed)),
        ("multi", lambda: render.render_multi(
            inputs["pair"], inputs["left"], inputs["right"], out / "multi.mp4",
            order="left_right", seed=args.seed)),
    ]
    print(f"{'render':<13} {'seconds':>7} {'wall s':>7} {'x real time':>11}  output")
    failed = False
    for name, job in jobs:
        started = time.perf_counter()
        try:
            result = job()
        except Exception as exc:
            print(f"{name:<13} {'-':>7} {'-':>7} {'-':>11}  FAILED: {exc}")
            failed = True
            continue
        wall = time.perf_counter() - started
        print(f"{name:<13} {result.seconds:7.2f} {wall:7.2f} {result.seconds / wall:11.1f}  "
              f"{result.path}")
    if not failed:
        save_stills(out / "image.mp4", out / "stills")
    return 1 if failed else 0


def save_stills(video: Path, folder: Path) -> list[Path]:
    """Three frames of `video`: the mouth measured widest open, in between, and shut."""
    import numpy as np

    from services.engine.measures.sync_measure import measure_openings
    from services.engine.media import av_io as media

    folder.mkdir(parents=True, exist_ok=True)
    opening = measure_openings(video)[:, 0]
    order = np.argsort(np.nan_to_num(opening, nan=np.nanmedian(opening)))
    picks = {"open": order[-1], "between": order[len(order) // 2], "closed": order[0]}
    info = media.probe_video(video)
    frames = list(media.iter_video_frames(video, (info.width, info.height), len(opening)))
    return [samples.save_image(folder / f"frame_{name}.png", frames[index])
            for name, index in picks.items()]


if __name__ == "__main__":
    sys.exit(main())
