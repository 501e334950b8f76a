"""Lip-sync quality on held-out speech families, measured on the rendered videos.

Each family (`heldout_families.FAMILIES`: espeak-ng held-out voices, festival and flite voices,
Japanese from Open JTalk, Arabic from espeak-ng, real recordings) is rendered onto a sample
portrait (`--faces`); then the output MP4 is decoded and the face mesh, run afresh on every frame
with no smoothing, measures the lip gap. Against the phoneme-derived truth:
- closure: p/b/m intervals in which the lips are measured shut at least once (hits/total);
- r: Pearson correlation of the measured opening with the true openness, the median of the
  clips' and pooled over all frames of the family;
- offset: the lag (frames, +-15) that maximises the pooled r; positive = video late.
Controls in the same run, per family: mouths driven by loudness, the model on another clip's
audio of the same family (shuffled), and the true phonemes themselves (the renderer's upper
bound). The last rows pool every family but espeak-ng's English (the synthesizer the model
trains on), per language and in all. shut@open counts the frames where the model's mouth is
measured shut while the truth is open, so a mouth that is always shut cannot score on closure.

    .venv/bin/python bench/sync.py [--utterances 3] [--families "flite,openjtalk mei"]
                                   [--faces hopper,astronaut] [--degrade noise-10db]
                                   [--out bench-out/sync]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import degrade  # bench/degrade.py, beside this script
import numpy as np

from services.devtools import samples
from services.engine.measures.sync_measure import (
    align_at_lag,
    calibrate_face,
    closure_intervals,
    measure_openings,
    pearson,
)
from services.engine.media import av_io as media
from services.engine.media import features, speech
from services.engine.mouth import onnx_backend, visemes
from services.engine.mouth.mouth_track import rest_shapes
from services.engine.render import renderer as render
from services.engine.training import heldout_families, metrics

MAX_LAG = 15
CLOSED = 0.15  # rescaled opening below which the lips count as shut
CONDITIONS = ("model", "loudness", "shuffled audio", "true phonemes")
POOLED = "pooled: all but espeak"


@dataclass
class Clip:
    family: str
    voice: str
    text: str
    utterance: speech.Utterance
    wav: Path
    truth_open: np.ndarray  # per frame
    truth_visemes: np.ndarray


@dataclass
class Measured:
    """One condition's measured openings and the truth they are compared with, per clip."""

    measured: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    visemes: list[np.ndarray] = field(default_factory=list)
    faces: list[str] = field(default_factory=list)

    def extend(self, other: Measured) -> None:
        self.measured += other.measured
        self.truth += other.truth
        self.visemes += other.visemes
        self.faces += other.faces

    def on_face(self, face: str) -> Measured:
        keep = [i for i, f in enumerate(self.faces) if f == face]
        return Measured([self.measured[i] for i in keep], [self.truth[i] for i in keep],
                        [self.visemes[i] for i in keep], [face] * len(keep))


def make_clips(family: heldout_families.Family, n: int, folder: Path,
               condition: str = "clean") -> list[Clip]:
    """The family's clips as files, under `condition` (`degrade.CONDITIONS`); the truth comes
    from the clean utterance's phonemes, which no condition moves."""
    clips = []
    for i, item in enumerate(family.utterances(n)):
        utt = item.utterance
        audio, rate = degrade.apply(condition, utt.audio, utt.sample_rate, seed=i)
        stem = folder / f"{family.name.replace(' ', '_')}_{i}_{condition}"
        wav = degrade.save(stem, condition, audio, rate)
        clips.append(Clip(family.name, item.voice, item.text, utt, wav,
                          visemes.openness_track(utt.phonemes, utt.duration),
                          visemes.viseme_track(utt.phonemes, utt.duration)))
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


def run_family(clips: list[Clip], faces: list[Path], scales: list[tuple[float, float]],
               folder: Path) -> dict[str, Measured]:
    """Render and measure every condition on every clip of one family."""
    conditions: dict[str, Callable[[int], tuple[Path, render.ShapeSource]]] = {
        "model": lambda i: (clips[i].wav, render.model_shapes),
        "loudness": lambda i: (clips[i].wav, loudness_source),
        # Another clip of the same family: same voice and level, unrelated phonemes.
        "shuffled audio": lambda i: (clips[(i + 1) % len(clips)].wav, render.model_shapes),
        "true phonemes": lambda i: (clips[i].wav, truth_source(clips[i].utterance)),
    }
    out: dict[str, Measured] = {}
    for name, make in conditions.items():
        res = Measured()
        if name == "shuffled audio" and len(clips) < 2:
            out[name] = res
            continue
        for i, clip in enumerate(clips):
            wav, source = make(i)
            video = folder / f"{clip.wav.stem}_{name.replace(' ', '_')}.mp4"
            render.render_image(faces[i % len(faces)], wav, video, seed=5, shapes_from=source)
            shut, wide = scales[i % len(faces)]
            m = (measure_openings(video)[:, 0] - shut) / max(wide - shut, 1e-6)
            n = min(len(m), len(clip.truth_open))
            res.measured.append(m[:n])
            res.truth.append(clip.truth_open[:n])
            res.visemes.append(clip.truth_visemes[:n])
            res.faces.append(faces[i % len(faces)].stem)
        out[name] = res
    return out


@dataclass
class Summary:
    closure_hits: int
    closure_total: int
    r_median: float  # of the clips' r at lag 0
    r_pooled: float  # all frames, lag 0
    best_lag: int
    r_at_best: float
    shut_when_open: float  # share of frames with true openness > 0.5 measured shut


    @property
    def closure(self) -> float:
        return self.closure_hits / self.closure_total if self.closure_total else float("nan")


def shuffled_floor(families: list[list[Clip]]) -> float:
    """The r the shuffled control would get from a perfect model: each clip's true openness
    against the next clip's of its family, pooled. Silence at both ends of every clip makes it
    positive for some synthesizers, so the model's shuffled r is read against it."""
    pairs = []
    for clips in families:
        if len(clips) < 2:
            continue
        for i, clip in enumerate(clips):
            other = clips[(i + 1) % len(clips)].truth_open
            n = min(len(other), len(clip.truth_open))
            pairs.append((other[:n], clip.truth_open[:n]))
    if not pairs:
        return float("nan")
    return pearson(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))


def merged(parts: list[Measured]) -> Measured:
    out = Measured()
    for part in parts:
        out.extend(part)
    return out


def summarise(res: Measured) -> Summary:
    if not res.measured:
        nan = float("nan")
        return Summary(0, 0, nan, nan, 0, nan, nan)

    def pooled(lag: int) -> float:
        pairs = [align_at_lag(m, t, lag) for m, t in zip(res.measured, res.truth, strict=True)]
        return pearson(np.concatenate([m for m, _ in pairs]), np.concatenate([t for _, t in pairs]))

    hits = total = 0
    for m, v in zip(res.measured, res.visemes, strict=True):
        h, n = closure_intervals(m, v, CLOSED)
        hits, total = hits + h, total + n
    lags = {lag: pooled(lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(lags, key=lambda k: -np.inf if np.isnan(lags[k]) else lags[k])
    per_clip = [pearson(m, t) for m, t in zip(res.measured, res.truth, strict=True)]
    # Closure alone rewards a mouth that is always shut; this counts the shut frames it wastes.
    measured, truth = np.concatenate(res.measured), np.concatenate(res.truth)
    wide = (truth > 0.5) & np.isfinite(measured)
    wasted = float((measured[wide] < CLOSED).mean()) if wide.any() else float("nan")
    return Summary(hits, total, float(np.nanmedian(per_clip)), lags[0], best, lags[best], wasted)


def model_identity() -> str:
    """Which weights were measured: the ONNX file's hash and the commit that last changed it."""
    path = onnx_backend.DEFAULT_MODEL_PATH
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    try:
        log = subprocess.run(["git", "log", "-1", "--format=%h %cs", "--", str(path)],
                             capture_output=True, text=True, cwd=path.parent, check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(path)],
                               capture_output=True, text=True, cwd=path.parent, check=False)
        commit = log.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:
        commit = "unknown"
    return f"{path.name} sha256 {digest}, last commit {commit or 'none'}"


def print_table(summaries: dict[str, dict[str, Summary]], languages: dict[str, str],
                floors: dict[str, float]) -> None:
    head = (f"{'family':<31} {'lang':<4} {'p/b/m closed':>13} {'loud':>6} {'shuf':>6} {'true':>6} "
            f"{'r med':>6} {'r pool':>6} {'offset':>6} {'shuf r':>6} {'loud r':>6} {'true r':>6} "
            f"{'shut@open':>9} {'shuf floor':>10}")
    print(head)
    print("-" * len(head))
    for name, s in summaries.items():
        m, loud, shuf, true = (s[c] for c in ("model", "loudness", "shuffled audio",
                                             "true phonemes"))
        closed = f"{m.closure_hits}/{m.closure_total}={m.closure:.2f}"
        print(f"{name:<31} {languages.get(name, '*'):<4} {closed:>13} {loud.closure:6.2f} "
              f"{shuf.closure:6.2f} {true.closure:6.2f} {m.r_median:6.3f} {m.r_pooled:6.3f} "
              f"{m.best_lag:+6d} {shuf.r_pooled:6.3f} {loud.r_pooled:6.3f} {true.r_pooled:6.3f} "
              f"{m.shut_when_open:9.2f} {floors.get(name, float('nan')):10.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--utterances", type=int, default=3, help="clips per family")
    parser.add_argument("--families", default="", help="comma-separated names (default: all)")
    # Grace Hopper by default, the face the README's tables have always used. On the astronaut's
    # toothy smile the true phonemes close 0.93 of the p/b/m (0.58 before the renderer read the
    # lips on the picture, ca1cffa), so `--faces astronaut` says how a smile with teeth fares.
    parser.add_argument("--faces", default="hopper",
                        help="sample portraits the clips take turns on: astronaut, hopper")
    parser.add_argument("--degrade", default="clean", choices=list(degrade.CONDITIONS),
                        help="what real uploads carry, applied to every clip (bench/degrade.py)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/sync"))
    args = parser.parse_args()
    folder: Path = args.out
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [f.strip() for f in args.families.split(",") if f.strip()]
    families = [heldout_families.family(n) for n in wanted] or list(heldout_families.FAMILIES)
    started = time.monotonic()

    portraits = {"astronaut": samples.astronaut, "hopper": samples.grace_hopper}
    faces = [samples.save_image(folder / f"{name}.png", portraits[name]())
             for name in args.faces.split(",")]
    clips: dict[str, list[Clip]] = {}
    for fam in families:
        if not fam.available():
            print(f"SKIPPED {fam.name}: its synthesizer or data is not installed")
            continue
        clips[fam.name] = make_clips(fam, args.utterances, folder, args.degrade)
    if not clips:
        print("no family available")
        return 1
    first = next(iter(clips.values()))[0].wav
    scales = [calibrate_face(face, first, folder) for face in faces]

    results = {name: run_family(cs, faces, scales, folder) for name, cs in clips.items()}
    summaries = {name: {c: summarise(res[c]) for c in CONDITIONS} for name, res in results.items()}
    languages = {f.name: f.language for f in families}
    # Pooled rows leave out espeak-ng's English voices: the model trains on that synthesizer.
    independent = [n for n in results if n != "espeak-ng held-out"]
    groups = {f"{POOLED} [{lang}]": [n for n in independent if languages[n] == lang]
              for lang in sorted({languages[n] for n in independent})}
    groups[POOLED] = independent
    languages.update({f"{POOLED} [{lang}]": lang for lang in set(languages.values())})
    for row, names in groups.items():
        if len(names) > 1:
            summaries[row] = {c: summarise(merged([results[n][c] for n in names]))
                              for c in CONDITIONS}

    print(f"\nmodel: {model_identity()}; audio condition: {args.degrade}")
    ranges = ", ".join(f"{a:.3f}-{b:.3f}" for a, b in scales)
    print(f"{args.utterances} clips per family on {len(faces)} faces; each face's measured opening "
          f"rescaled so its shut lips read 0 and its widest 1 ({ranges}); lips count as shut "
          f"below {CLOSED:.2f}\n")
    print("data per row:")
    for fam in families:
        if fam.name in clips:
            voices = sorted({c.voice for c in clips[fam.name]})
            print(f"  {fam.name} [{fam.language}]: {fam.data}; voices: {'; '.join(voices)}")
    print("columns: p/b/m closed = model; loud/shuf/true = closure of the loudness-driven mouth, "
          "of the model on another clip's audio (chance) and of the true phonemes;\n"
          "  r med = median of the clips' r, r pool = r over all frames "
          "(lag 0); offset = lag of the best pooled r;\n  shuf r = model on another clip's "
          "audio; loud r / true r = the controls' pooled r;\n  shut@open = share of the "
          "model's frames measured shut where the truth is open > 0.5;\n  shuf floor = the shuffled "
          "r of a perfect model (one clip's truth against the next's)\n")
    floors = {name: shuffled_floor([cs]) for name, cs in clips.items()}
    floors.update({row: shuffled_floor([clips[n] for n in names]) for row, names in groups.items()})
    print_table(summaries, languages, floors)
    # The renderer and the face mesh differ per face; an upper bound far below 1 on one face
    # means that face's measure, not the model, limits the figures.
    everything = {c: merged([res[c] for res in results.values()]) for c in CONDITIONS}
    print("\nper face, all families: model closure / r, true phonemes closure / r")
    for face in faces:
        m = summarise(everything["model"].on_face(face.stem))
        t = summarise(everything["true phonemes"].on_face(face.stem))
        print(f"  {face.stem:<10} model {m.closure_hits}/{m.closure_total}={m.closure:.2f} "
              f"r {m.r_pooled:.3f}; true phonemes {t.closure_hits}/{t.closure_total}="
              f"{t.closure:.2f} r {t.r_pooled:.3f}")
    print(f"\n{time.monotonic() - started:.0f} s")
    (folder / "results.json").write_text(json.dumps({
        "model": model_identity(),
        "utterances": args.utterances,
        "faces": args.faces,
        "condition": args.degrade,
        "families": {name: {c: {**vars(s), "closure": s.closure} for c, s in per.items()}
                     for name, per in summaries.items()},
        "shuffled_floor": floors,
        "clips": {name: [{"voice": c.voice, "text": c.text} for c in cs]
                  for name, cs in clips.items()},
    }, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
