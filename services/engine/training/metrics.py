"""Evaluation figures for predicted mouth tracks against phoneme-derived truth (numpy only)."""

from __future__ import annotations

import numpy as np

from services.engine.mouth.visemes import Viseme

CLOSED = 0.15  # predicted openness below this counts as "lips shut"


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else float("nan")


def score(
    pred_shapes: list[np.ndarray],
    pred_visemes: list[np.ndarray],
    true_shapes: list[np.ndarray],
    true_visemes: list[np.ndarray],
) -> dict[str, float]:
    """Frame-level figures over all utterances (pred_visemes: [T, V] scores or probabilities)."""
    ps = np.concatenate(pred_shapes)
    ts = np.concatenate(true_shapes)
    pv = np.concatenate([v.argmax(axis=1) for v in pred_visemes])
    tv = np.concatenate(true_visemes)
    bil, sil = int(Viseme.BILABIAL), int(Viseme.SILENCE)
    true_b, pred_b = tv == bil, pv == bil
    closed = ps[:, 0] < CLOSED
    open_truth = ts[:, 0] > 0.4
    return {
        "frames": float(len(tv)),
        "pearson_open": pearson(ps[:, 0], ts[:, 0]),
        "pearson_width": pearson(ps[:, 1], ts[:, 1]),
        "pearson_round": pearson(ps[:, 2], ts[:, 2]),
        "mae_open": float(np.abs(ps[:, 0] - ts[:, 0]).mean()),
        "viseme_accuracy": float((pv == tv).mean()),
        "bilabial_recall": _ratio(int((true_b & pred_b).sum()), int(true_b.sum())),
        "bilabial_precision": _ratio(int((true_b & pred_b).sum()), int(pred_b.sum())),
        # Lips shut (predicted openness < CLOSED) on p/b/m frames, and wrongly shut on open vowels.
        "bilabial_closure_recall": _ratio(int((true_b & closed).sum()), int(true_b.sum())),
        "false_closure_rate": _ratio(int((open_truth & closed).sum()), int(open_truth.sum())),
        "silence_open_mean": float(ps[tv == sil, 0].mean()) if (tv == sil).any() else float("nan"),
        "bilabial_open_mean": float(ps[true_b, 0].mean()) if true_b.any() else float("nan"),
    }


def loudness_baseline(audio16k: np.ndarray, frames: int) -> np.ndarray:
    """Openness from loudness alone (dB RMS per video frame, scaled to [0, 1]): the naive rival."""
    hop = 640
    x = np.zeros(frames * hop, np.float32)
    x[: min(len(audio16k), len(x))] = audio16k[: len(x)]
    rms = np.sqrt(np.mean(x.reshape(frames, hop) ** 2, axis=1))
    db = 20 * np.log10(rms + 1e-5)
    return np.clip((db + 60.0) / 50.0, 0.0, 1.0)
