"""Lip sync under the conditions real uploads carry, on held-out speech only.

Each clip of the held-out families (`services/engine/training/heldout_families.py`: voices,
synthesizers and recordings never trained on) is degraded the way uploads are: background
music or noise at 10-20 dB SNR, a reverberant room, phone band at 8 kHz, lossy codecs at low bit
rates, very quiet or clipped. The mouth shapes the renderer would draw (`render.model_shapes`,
i.e. the model plus `shapes_for_render`) are scored against the phoneme truth with the
definitions of `bench/sync.py` (a p/b/m counts as closed when the drawn opening is under 0.15 at
least once in it; r: openness correlation, median over clips). This measures the shapes, not
the rendered pixels: `bench/sync.py` measures the pixels, on clean speech. The degradations use
their own seeds, and none of these clips or conditions was used to choose anything in training.

    .venv/bin/python bench/robustness.py [--utterances 4] [--families "festival kal_diphone,..."]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np

from services.engine import features, media, render, visemes
from services.engine.sync_measure import closure_intervals, pearson
from services.engine.training import augment, heldout_families

CLOSED = 0.15
SR = features.SAMPLE_RATE


def _resampled(x: np.ndarray, rate: int) -> np.ndarray:
    return features.resample(features.resample(x, SR, rate), rate, SR)


def conditions() -> dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]:
    return {
        "clean": lambda x, rng: x,
        "music 15 dB": lambda x, rng: augment.add_noise(x, augment.music(len(x), rng), 15.0),
        "music 10 dB": lambda x, rng: augment.add_noise(x, augment.music(len(x), rng), 10.0),
        "pink noise 10 dB": lambda x, rng: augment.add_noise(
            x, augment.pink_noise(len(x), rng), 10.0),
        "reverb (RT60 0.6 s)": lambda x, rng: augment.reverb(x, 0.6, 0.6, rng),
        "phone: 8 kHz, 300-3400 Hz": lambda x, rng: augment.band_limit(
            _resampled(x, 8000), 300.0, 3400.0),
        "MP3 32 kbit/s": lambda x, rng: augment.codec(x, "mp3", 32000),
        "Opus 16 kbit/s": lambda x, rng: augment.codec(x, "opus", 16000),
        "AAC 24 kbit/s": lambda x, rng: augment.codec(x, "aac", 24000),
        "quiet (-45 dBFS peak)": lambda x, rng: x / max(float(np.abs(x).max()), 1e-6) * 10 ** (
            -45 / 20),
        "clipped (+12 dB)": lambda x, rng: augment.clip(x, 12.0),
        "48 kHz in": lambda x, rng: _resampled(x, 48000),
    }


def score(clips: list[tuple[np.ndarray, heldout_families.HeldOutUtterance]]) -> tuple[
        int, int, float]:
    hits = total = 0
    rs = []
    for audio16k, item in clips:
        utt = item.utterance
        audio48k = features.resample(audio16k, SR, media.OUTPUT_AUDIO_RATE)
        frames = round(len(audio16k) / SR * media.FPS)
        drawn = render.model_shapes(audio48k, frames)[:, 0]
        truth = visemes.openness_track(utt.phonemes, utt.duration)[: len(drawn)]
        classes = visemes.viseme_track(utt.phonemes, utt.duration)[: len(drawn)]
        h, n = closure_intervals(drawn, classes, CLOSED)
        hits, total = hits + h, total + n
        rs.append(pearson(drawn[: len(truth)], truth))
    return hits, total, float(np.nanmedian(rs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--utterances", type=int, default=4, help="clips per family")
    parser.add_argument("--families", default="", help="comma-separated names (default: all "
                        "available but espeak-ng's English, the training synthesizer)")
    args = parser.parse_args()
    names = [n for n in args.families.split(",") if n] or [
        f.name for f in heldout_families.FAMILIES
        if f.name != "espeak-ng held-out" and f.available()]
    clips = []
    for name in names:
        for item in heldout_families.family(name).utterances(args.utterances):
            u = item.utterance
            clips.append((features.resample(u.audio, u.sample_rate, SR), item))
    print(f"held-out clips: {len(clips)} from {', '.join(names)}; shapes as drawn, "
          f"closed below {CLOSED}\n")
    print("| condition | p/b/m closed | r median |\n| --- | --- | --- |")
    for cname, degrade in conditions().items():
        degraded = []
        for i, (audio, item) in enumerate(clips):
            rng = np.random.default_rng([7, i])
            degraded.append((np.clip(degrade(audio, rng), -1, 1).astype(np.float32), item))
        hits, total, r = score(degraded)
        print(f"| {cname} | {hits}/{total} = {hits / max(total, 1):.2f} | {r:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
