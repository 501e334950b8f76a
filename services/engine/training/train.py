"""Train the audio -> mouth-shape model on synthetic speech, evaluate on held-out speech, export.

    python -m services.engine.training.train [--out services/engine/weights] [--seed 0]
        [--steps 800] [--minutes 90] [--items 600] [--festival-items 240] [--japanese-items 150]
        [--versions 3] [--members 4] [--threads 2]

Training speech: espeak-ng (many languages, voices and variants) and festival's training voices
(`data.FESTIVAL_TRAIN_VOICES`: Debian packages festival, festvox-kdlpc16k, festvox-italp16k,
festvox-itapc16k, festvox-czech-ph, festvox-suopuhe-lj, festvox-suopuhe-mv, festvox-ca-ona-hts).
The model reads phone posteriors of pocketsphinx's acoustic model (`phone_posteriors`), not
the spectrum, so what it learns about sounds carries over to voices it never heard.

`--members` networks train on the same data from their own initialisation and batch order and
are exported as one model that averages them (`net.MouthEnsemble`).
Reproducible: data, augmentation, initialisation and batch order all follow `--seed`.
`--minutes` is only a safety cap: if it stops training early the JSON says so (`steps_done`).
Writes <out>/mouth_shapes.pt (state dict + config), <out>/mouth_shapes.json (command, data,
timings, held-out figures) and triton_models/mouth_shapes/{config.pbtxt, 1/model.onnx}.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from services.engine.media import features
from services.engine.media.speech import Utterance
from services.engine.mouth import phone_posteriors, speaker_warp, visemes
from services.engine.mouth.mouth_model import MouthModel, MouthTrack, phonetic_frames
from services.engine.mouth.onnx_backend import DEFAULT_MODEL_PATH
from services.engine.mouth.visemes import Viseme
from services.engine.training import augment, data, metrics, openjtalk
from services.engine.training.export import WEIGHTS_DIR, export_onnx
from services.engine.training.net import (
    MouthEnsemble,
    MouthNet,
    count_parameters,
    lookahead_frames,
    receptive_field,
)

# Class weights for the viseme loss: closures (p/b/m) matter most to viewers.
_CLASS_WEIGHTS = {Viseme.BILABIAL: 3.0, Viseme.LABIODENTAL: 1.5, Viseme.SILENCE: 1.0}
_SHAPE_WEIGHTS = (2.0, 1.0, 1.0)  # open, width, round


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--onnx", type=Path, default=DEFAULT_MODEL_PATH)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--minutes", type=float, default=90.0, help="stop training after this long")
    p.add_argument("--items", type=int, default=600, help="espeak-ng training utterances")
    p.add_argument("--festival-items", type=int, default=240,
                   help="festival training utterances (0 without festival)")
    p.add_argument("--japanese-items", type=int, default=150,
                   help="Open JTalk utterances in its training voice (nitech m001; mei is held out)")
    p.add_argument("--versions", type=int, default=3,
                   help="featurized copies of each item: clean + augmented")
    p.add_argument("--heldout", type=int, default=80, help="held-out utterances to evaluate")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--frames", type=int, default=96, help="video frames per training crop")
    p.add_argument("--channels", type=int, default=160)
    p.add_argument("--members", type=int, default=4,
                   help="networks trained from different seeds and averaged in the export")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in the report
    return args


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def feature_stats(cache: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of all training features (every version)."""
    flat = np.concatenate([v for versions in cache for v in versions])
    return flat.mean(axis=0), flat.std(axis=0) + 1e-3


class Loss(nn.Module):
    shape_w: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        weights = torch.ones(visemes.N_VISEMES)
        for cls, w in _CLASS_WEIGHTS.items():
            weights[int(cls)] = w
        self.ce = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.05)
        self.register_buffer("shape_w", torch.tensor(_SHAPE_WEIGHTS))

    def forward(self, shapes: torch.Tensor, logits: torch.Tensor, true_shapes: torch.Tensor,
                true_visemes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Frames on p/b/m count three times in the shape loss, so closures come out at ~0.
        frame_w = 1.0 + 2.0 * (true_visemes == int(Viseme.BILABIAL)).float()
        l1 = ((shapes - true_shapes).abs() * self.shape_w).sum(-1)
        shape_loss = (l1 * frame_w).sum() / frame_w.sum()
        ce = self.ce(logits.reshape(-1, logits.shape[-1]), true_visemes.reshape(-1))
        return shape_loss, ce


def predict_torch(model: MouthNet, examples: list[data.Example]) -> tuple[
        list[np.ndarray], list[np.ndarray]]:
    """Whole-utterance predictions for quick checks during training."""
    model.eval()
    shapes, logits = [], []
    with torch.no_grad():
        for ex in examples:
            s, v = model(torch.from_numpy(phonetic_frames(ex.audio))[None])
            n = len(ex.shapes)
            shapes.append(s[0, :n].numpy())
            logits.append(v[0, :n].numpy())
    model.train()
    return shapes, logits


def evaluate_runtime(examples: list[data.Example], model_path: Path) -> dict[str, float]:
    """Figures through the shipped runtime path (MouthModel over the exported ONNX file)."""
    mm = MouthModel(model_path)
    tracks = [mm.predict(ex.audio, features.SAMPLE_RATE) for ex in examples]
    return metrics.score([t.shapes for t in tracks], [t.visemes for t in tracks],
                         [ex.shapes for ex in examples], [ex.visemes for ex in examples])


def noisy_copy(examples: list[data.Example], seed: int, hard: bool = False) -> list[data.Example]:
    """Held-out speech as a recording: pink noise at 20 dB SNR, -12 dB level; `hard` instead
    sends it through a telephone band with white noise at 10 dB SNR."""
    rng = np.random.default_rng(seed)
    out = []
    for ex in examples:
        if hard:
            y = augment.band_limit(ex.audio, 300.0, 3400.0)
            y = augment.add_noise(y, augment.white_noise(len(y), rng), 10.0)
        else:
            y = augment.add_noise(ex.audio, augment.pink_noise(len(ex.audio), rng), 20.0) * 0.25
        out.append(data.Example(np.clip(y, -1, 1), ex.shapes, ex.visemes, ex.language))
    return out


def _validation_tracks(mm: MouthModel, condition: str = "clean") -> list[
        tuple[MouthTrack, Utterance]]:
    """The model's tracks for the validation voice, clean or under a `VALIDATION_CONDITIONS`."""
    out = []
    for i, utt in enumerate(data.validation_utterances()):
        audio = features.resample(utt.audio, utt.sample_rate, features.SAMPLE_RATE)
        audio = VALIDATION_CONDITIONS[condition](audio, np.random.default_rng(1000 + i))
        out.append((mm.predict(np.clip(audio, -1.0, 1.0), features.SAMPLE_RATE), utt))
    return out


def _drawn_figures(tracks: list[tuple[MouthTrack, Utterance]],
                   threshold: float) -> dict[str, float]:
    """Closure of the drawn lips on p/b/m, how often they are drawn shut where the truth is wide
    open, and the median openness correlation, as `bench/sync.py` measures them on video."""
    from services.engine.measures.sync_measure import closure_intervals
    from services.engine.mouth import mouth_track

    hits = total = shut = wide = 0
    rs = []
    for track, utt in tracks:
        drawn = mouth_track.shapes_for_render(track.shapes, track.visemes, threshold)[:, 0]
        classes = visemes.viseme_track(utt.phonemes, utt.duration)[: len(drawn)]
        truth = visemes.openness_track(utt.phonemes, utt.duration)[: len(drawn)]
        h, n = closure_intervals(drawn, classes, 0.15)
        hits, total = hits + h, total + n
        shut += int((drawn[: len(truth)][truth > 0.5] < 0.15).sum())
        wide += int((truth > 0.5).sum())
        rs.append(metrics.pearson(drawn[: len(truth)], truth))
    return {"closure": round(hits / max(total, 1), 3), "p_b_m": total,
            "shut_when_open": round(shut / max(wide, 1), 3),
            "r_median": round(float(np.median(rs)), 3)}


def validate_closure(model_path: Path) -> dict[str, dict[str, float]]:
    """Closure of the drawn lips on the validation voice at each closure threshold, and how
    often they are drawn shut where the truth is wide open: the threshold in `mouth_track` is
    chosen from this table (most closures with at most 0.1 shut-when-open)."""
    tracks = _validation_tracks(MouthModel(model_path))
    return {f"{t:.2f}": _drawn_figures(tracks, t) for t in (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)}


# What uploads carry, made with the training augmentation's own functions on the validation
# voice (the benchmark's `bench/degrade.py` is written apart, on held-out speech).
VALIDATION_CONDITIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "clean": lambda x, rng: x,
    "reverb, RT60 0.6 s, tail 6 dB over the direct sound": lambda x, rng: augment.reverb(
        x, 0.6, 2.0, rng),
    "telephone band": lambda x, rng: augment.band_limit(x, 300.0, 3400.0),
    "music, 15 dB SNR": lambda x, rng: augment.add_noise(x, augment.music(len(x), rng), 15.0),
    "pink noise, 10 dB SNR": lambda x, rng: augment.add_noise(
        x, augment.pink_noise(len(x), rng), 10.0),
    "clipped, 20 dB over full scale": lambda x, rng: augment.clip(x, 20.0),
    "quiet, -40 dB": lambda x, rng: x * np.float32(0.01),
}


def validate_conditions(model_path: Path) -> dict[str, dict[str, float]]:
    """`_drawn_figures` on the validation voice under each of `VALIDATION_CONDITIONS`, at the
    closure threshold the renderer uses: how the choices made in training hold up."""
    from services.engine.mouth.mouth_track import CLOSURE_PROBABILITY

    mm = MouthModel(model_path)
    return {name: _drawn_figures(_validation_tracks(mm, name), CLOSURE_PROBABILITY)
            for name in VALIDATION_CONDITIONS}


@dataclass
class MemberRun:
    steps_done: int
    stopped_by_time_cap: bool
    seconds: float


def train_member(index: int, pool: list[data.Example], cache: list[list[np.ndarray]],
                 heldout: list[data.Example], stats: tuple[np.ndarray, np.ndarray],
                 args: argparse.Namespace) -> tuple[MouthNet, MemberRun]:
    """One member of the ensemble, on the shared data: its own initialisation and batch order
    (both from `--seed` and `index`)."""
    seed_everything(args.seed + 1000 * index, args.threads)
    rng = np.random.default_rng([args.seed, index])
    model = MouthNet(channels=args.channels)
    model.feature_mean.copy_(torch.from_numpy(stats[0]))
    model.feature_std.copy_(torch.from_numpy(stats[1]))
    loss_fn = Loss()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warmup = max(args.steps // 20, 1)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(args.steps - warmup, 1)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))

    model.train()
    t_train = time.time()
    steps_done, stopped_early = 0, False
    running: list[float] = []
    for step in range(args.steps):
        if time.time() - t_train > args.minutes * 60 / args.members:
            stopped_early = True
            break
        idx = [int(i) for i in rng.integers(0, len(pool), size=args.batch)]
        batch = data.make_batch(pool, cache, idx, args.frames, rng)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        shapes, logits = model(torch.from_numpy(batch.features))
        shape_loss, ce = loss_fn(shapes, logits, torch.from_numpy(batch.shapes),
                                 torch.from_numpy(batch.visemes))
        loss = 4.0 * shape_loss + ce
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        running.append(loss.item())
        if steps_done % 200 == 0 or steps_done == args.steps:
            ps, pv = predict_torch(model, heldout[:30])
            m = metrics.score(ps, pv, [e.shapes for e in heldout[:30]],
                              [e.visemes for e in heldout[:30]])
            print(f"member {index}  step {steps_done:5d}  loss {np.mean(running):.3f}  held-out "
                  f"r_open {m['pearson_open']:.3f}  closure recall "
                  f"{m['bilabial_closure_recall']:.3f}  viseme acc {m['viseme_accuracy']:.3f}  "
                  f"[{time.time() - t_train:.0f} s]", flush=True)
            running = []
    model.eval()
    return model, MemberRun(steps_done, stopped_early, round(time.time() - t_train, 1))


def train(args: argparse.Namespace) -> dict[str, object]:
    t_start = time.time()
    seed_everything(args.seed, args.threads)

    pool = data.training_examples(args.items, seed=args.seed)
    pool += data.festival_examples(args.festival_items, seed=args.seed)
    pool += data.japanese_examples(args.japanese_items, seed=args.seed)
    cache = data.featurize(pool, args.versions, args.seed, workers=args.threads)
    heldout = data.heldout_examples(args.heldout, seed=0)
    t_data = time.time() - t_start
    hours = sum(len(e.audio) for e in pool) / features.SAMPLE_RATE / 3600
    print(f"data: {len(pool)} items, {hours:.2f} h of speech, {t_data:.0f} s", flush=True)
    unmapped = dict(visemes.UNMAPPED.most_common())
    print("phoneme symbols without a viseme rule (count):", unmapped or "none", flush=True)

    mean, std = feature_stats(cache)
    members, logs = [], []
    for m in range(args.members):
        member, log = train_member(m, pool, cache, heldout, (mean, std), args)
        members.append(member)
        logs.append(log)
    model = MouthEnsemble.of(members)
    steps_done = min(log.steps_done for log in logs)
    stopped_early = any(log.stopped_by_time_cap for log in logs)
    train_seconds = sum(log.seconds for log in logs)

    args.out.mkdir(parents=True, exist_ok=True)
    config = {"channels": args.channels, "members": args.members}
    torch.save({"config": config, "state_dict": model.state_dict()}, args.out / "mouth_shapes.pt")
    export = export_onnx(model, args.onnx)

    clean = evaluate_runtime(heldout, args.onnx)
    noisy = evaluate_runtime(noisy_copy(heldout, seed=1), args.onnx)
    hard = evaluate_runtime(noisy_copy(heldout, seed=2, hard=True), args.onnx)
    validation = validate_closure(args.onnx) if args.festival_items else {}
    conditions = validate_conditions(args.onnx) if args.festival_items else {}
    baseline = metrics.pearson(
        np.concatenate([metrics.loudness_baseline(e.audio, len(e.shapes)) for e in heldout]),
        np.concatenate([e.shapes[:, 0] for e in heldout]))
    report: dict[str, object] = {
        "command": "python -m services.engine.training.train " + shlex.join(args.argv),
        "seed": args.seed,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                 if k != "argv"},
        "data": {
            "train_items": len(pool),
            "festival_items": args.festival_items,
            "festival_train_voices": dict(data.FESTIVAL_TRAIN_VOICES),
            "japanese_items": args.japanese_items,
            "japanese_train_voice": openjtalk.TRAINING_VOICE.stem,
            "front_end": "phone posteriors of pocketsphinx's en-us acoustic model "
                         f"(pocketsphinx {_version('pocketsphinx')}), its filterbank warped "
                         "per speaker (causal maximum-likelihood VTLN, warps "
                         f"{speaker_warp.WARPS[0]}-{speaker_warp.WARPS[-1]})",
            "train_hours": round(hours, 3),
            "train_languages": dict(Counter(e.language for e in pool).most_common()),
            "heldout_items": len(heldout),
            "heldout_voices": list(data.HELD_OUT_VOICES),
            "heldout_variants": list(data.HELD_OUT_VARIANTS),
            "heldout_rates": list(data.HELD_OUT_RATES),
            "unmapped_phoneme_symbols": unmapped,
        },
        "model": {"parameters": count_parameters(model), "receptive_field_ms":
                  receptive_field() * 10, "lookahead_ms": (lookahead_frames()
                  + phone_posteriors.LOOKAHEAD_FRAMES) * 10,
                  "visemes": [v.name for v in Viseme], **config},
        "training": {"members": [asdict(log) for log in logs], "steps_planned": args.steps,
                     "steps_done": steps_done,
                     "stopped_by_time_cap": stopped_early, "batch": args.batch,
                     "crop_frames": args.frames, "data_seconds": round(t_data, 1),
                     "train_seconds": round(train_seconds, 1),
                     "total_seconds": round(time.time() - t_start, 1)},
        "heldout_clean": clean,
        "heldout_noisy_20db": noisy,
        "heldout_telephone_10db": hard,
        "validation_closure_by_threshold": {"voice": data.FESTIVAL_VALIDATION_VOICE, **validation},
        "validation_conditions": {"voice": data.FESTIVAL_VALIDATION_VOICE, **conditions},
        "loudness_baseline_pearson_open": baseline,
        "export": export,
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "threads": args.threads},
    }
    (args.out / "mouth_shapes.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> None:
    report = train(parse_args(argv))
    print(json.dumps({k: report[k] for k in (
        "heldout_clean", "heldout_noisy_20db", "heldout_telephone_10db",
        "loudness_baseline_pearson_open", "training")},
                     indent=2))


if __name__ == "__main__":
    main()
