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
from services.engine.sync_measure import align_at_lag, closure_intervals, measure_openings, pearson
from services.engine.training import data, metrics

MAX_LAG = 15
CLOSED = 0.15  # rescaled opening below which the lips count as shut


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


def constant_source(open_: float) -> render.ShapeSource:
    """Every frame the same mouth: for calibrating what "shut" and "wide open" measure as."""

    def source(audio48k: np.ndarray, frames: int) -> np.ndarray:
        shapes = rest_shapes(frames)
        shapes[:, 0] = open_
        return shapes

    return source


def calibrate(face: Path, wav: Path, folder: Path) -> tuple[float, float]:
    """(shut, wide open) as the face mesh measures them on this face's renders. Faces differ
    (a smile with teeth reads as slightly open), so each face gets its own scale."""
    levels = []
    for open_ in (0.0, 1.0):
        video = folder / f"calibrate_{face.stem}_{open_:.0f}.mp4"
        render.render_image(face, wav, video, seed=5, shapes_from=constant_source(open_))
        levels.append(float(np.nanmedian(measure_openings(video)[:, 0])))
    return levels[0], levels[1]


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
    scales = [calibrate(face, clips[0].wav, folder) for face in faces]

    conditions: dict[str, Callable[[int], tuple[Path, render.ShapeSource]]] = {
        "model": lambda i: (clips[i].wav, render.model_shapes),
        "true phonemes": lambda i: (clips[i].wav, truth_source(clips[i].utterance)),
        "loudness": lambda i: (clips[i].wav, loudness_source),
        "shuffled audio": lambda i: (clips[(i + 1) % len(clips)].wav, render.model_shapes),
    }
    results: dict[str, dict[str, list[np.ndarray]]] = {}
    for name, make in conditions.items():
        measured, truth, vis = [], [], []
        for i, clip in enumerate(clips):
            wav, source = make(i)
            video = folder / f"{name.replace(' ', '_')}_{i}.mp4"
            render.render_image(faces[i % len(faces)], wav, video, seed=5, shapes_from=source)
            shut, wide = scales[i % len(faces)]
            m = (measure_openings(video)[:, 0] - shut) / max(wide - shut, 1e-6)
            n = min(len(m), clip.frames)
            measured.append(m[:n])
            truth.append(clip.truth_open[:n])
            vis.append(clip.truth_visemes[:n])
        results[name] = {"measured": measured, "truth": truth, "visemes": vis}

    ranges = ", ".join(f"{a:.3f}-{b:.3f}" for a, b in scales)
    print(f"held-out utterances: {len(clips)}, on {len(faces)} faces; each face's measured opening "
          f"rescaled so its shut lips read 0 and its widest 1 ({ranges});")
    print(f"lips counted shut below {CLOSED:.2f} on that scale\n")
    summary = {name: summarise(res) for name, res in results.items()}
    upper_r = summary["true phonemes"][0]
    print(f"{'condition':<16} {'r':>6} {'r/upper':>8} {'closure':>8} {'offset':>7} {'r@offset':>9}")
    for name, (r, closure, best, r_best) in summary.items():
        print(f"{name:<16} {r:6.3f} {r / upper_r:8.2f} {closure:8.2f} {best:7d} {r_best:9.3f}")
    return 0


def summarise(res: dict[str, list[np.ndarray]]) -> tuple[float, float, int, float]:
    """(r over all frames, closure recall, best lag, r at that lag) for one condition."""
    measured, truth = res["measured"], res["truth"]

    def pooled(lag: int) -> float:
        pairs = [align_at_lag(m, t, lag) for m, t in zip(measured, truth, strict=True)]
        return pearson(np.concatenate([m for m, _ in pairs]), np.concatenate([t for _, t in pairs]))

    hits = total = 0
    for m, v in zip(measured, res["visemes"], strict=True):
        h, n = closure_intervals(m, v, CLOSED)
        hits, total = hits + h, total + n
    lags = {lag: pooled(lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(lags, key=lambda k: -np.inf if np.isnan(lags[k]) else lags[k])
    return lags[0], hits / max(total, 1), best, lags[best]


if __name__ == "__main__":
    sys.exit(main())
