"""Lip-sync quality, measured on the rendered videos.

Held-out synthetic speech (voices, variants, rates and sentences never used in training) is
rendered onto the sample portraits; then the output MP4 is decoded and the face mesh, run afresh
on every frame with no smoothing, measures the lip gap. Against the phoneme-derived truth:
- r: Pearson correlation of the measured opening with the true openness;
- closure: share of p/b/m intervals in which the lips are measured shut at least once;
- offset: the lag (frames, +-15) that maximises r; positive = video late.
Controls in the same run: mouths driven by loudness, the model on another utterance's audio
(shuffled), and the true phonemes themselves (the renderer's upper bound).

    .venv/bin/python bench/sync.py [--utterances 8] [--out bench-out/sync]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.engine import features, media, render, samples, speech, visemes
from services.engine.mouth_track import rest_shapes
from services.engine.sync_measure import (
    closure_intervals,
    measure_openings,
    pearson,
    pearson_at_lag,
)
from services.engine.training import data, metrics

MAX_LAG = 15


@dataclass
class Clip:
    utterance: speech.Utterance
    wav: Path
    truth_open: np.ndarray  # per frame
    truth_visemes: np.ndarray
    frames: int


def make_clips(n: int, folder: Path) -> list[Clip]:
    clips = []
    for i, item in enumerate(data.heldout_utterances(n, seed=11)):
        utt = item.utterance
        wav = folder / f"heldout_{i}.wav"
        speech.save_wav(wav, utt.audio, utt.sample_rate)
        frames = max(1, round(utt.duration * media.FPS))
        clips.append(Clip(utt, wav, visemes.openness_track(utt.phonemes, utt.duration),
                          visemes.viseme_track(utt.phonemes, utt.duration), frames))
    return clips


def truth_source(utt: speech.Utterance) -> render.ShapeSource:
    """The renderer driven by the true phonemes: the upper bound of what it can show."""
    shapes = visemes.shape_track(utt.phonemes, utt.duration)

    def source(audio48k: np.ndarray, frames: int) -> np.ndarray:
        return np.concatenate([shapes, rest_shapes(frames)])[:frames]

    return source


def loudness_source(audio48k: np.ndarray, frames: int) -> np.ndarray:
    audio16k = features.resample(audio48k, media.OUTPUT_AUDIO_RATE, features.SAMPLE_RATE)
    shapes = rest_shapes(frames)
    shapes[:, 0] = metrics.loudness_baseline(audio16k, frames)
    return shapes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench-out/sync"))
    args = parser.parse_args()
    folder: Path = args.out
    folder.mkdir(parents=True, exist_ok=True)
    faces = [samples.save_image(folder / "astronaut.png", samples.astronaut()),
             samples.save_image(folder / "hopper.png", samples.grace_hopper())]
    clips = make_clips(args.utterances, folder)

    conditions: dict[str, Callable[[int], tuple[Path, render.ShapeSource]]] = {
        "model": lambda i: (clips[i].wav, render.model_shapes),
        "true phonemes": lambda i: (clips[i].wav, truth_source(clips[i].utterance)),
        "loudness": lambda i: (clips[i].wav, loudness_source),
        "shuffled audio": lambda i: (clips[(i + 1) % len(clips)].wav, render.model_shapes),
    }
    # The closed-lips threshold: measured on the untouched portraits' rest frames is too
    # optimistic, so use the true-phoneme renders' silent frames (the renderer's own "shut").
    results: dict[str, dict[str, list[np.ndarray]]] = {}
    for name, make in conditions.items():
        measured, truth, vis = [], [], []
        for i, clip in enumerate(clips):
            wav, source = make(i)
            video = folder / f"{name.replace(' ', '_')}_{i}.mp4"
            render.render_image(faces[i % len(faces)], wav, video, seed=5, shapes_from=source)
            m = measure_openings(video)[:, 0]
            n = min(len(m), clip.frames)
            measured.append(m[:n])
            truth.append(clip.truth_open[:n])
            vis.append(clip.truth_visemes[:n])
        results[name] = {"measured": measured, "truth": truth, "visemes": vis}

    upper = results["true phonemes"]
    silent = np.concatenate([m[v == visemes.Viseme.SILENCE]
                             for m, v in zip(upper["measured"], upper["visemes"], strict=True)])
    threshold = float(np.nanpercentile(silent, 90)) + 0.01 if silent.size else 0.02
    print(f"held-out utterances: {len(clips)}; lips counted shut below an opening of "
          f"{threshold:.3f} (inter-ocular units)\n")
    summary = {name: summarise(res, threshold) for name, res in results.items()}
    upper_r = summary["true phonemes"][0]
    print(f"{'condition':<16} {'r':>6} {'r/upper':>8} {'closure':>8} {'offset':>7} {'r@offset':>9}")
    for name, (r, closure, best, r_best) in summary.items():
        print(f"{name:<16} {r:6.3f} {r / upper_r:8.2f} {closure:8.2f} {best:7d} {r_best:9.3f}")
    return 0


def summarise(res: dict[str, list[np.ndarray]], threshold: float) -> tuple[float, float, int, float]:
    """(r, closure recall, best lag, r at that lag) for one condition."""
    r = pearson(np.concatenate(res["measured"]), np.concatenate(res["truth"]))
    hits = total = 0
    for mm, vv in zip(res["measured"], res["visemes"], strict=True):
        h, n = closure_intervals(mm, vv, threshold)
        hits, total = hits + h, total + n
    pairs = list(zip(res["measured"], res["truth"], strict=True))
    lags = {lag: float(np.nanmean([pearson_at_lag(mm, tt, lag) for mm, tt in pairs]))
            for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(lags, key=lambda k: -np.inf if np.isnan(lags[k]) else lags[k])
    return r, hits / max(total, 1), best, lags[best]


if __name__ == "__main__":
    sys.exit(main())
