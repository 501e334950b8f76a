"""Vocal tract length normalisation (VTLN): which filterbank warp reads this speaker best.

Why: a voice's formants sit higher the shorter its vocal tract (a woman's some 15% above a
man's, a child's more). The acoustic model under the phonetic front end then reads vowels and
bilabials as their neighbours, and the mouth model built on its posteriors closes the lips
less and opens them wrong. Maximum-likelihood VTLN, the standard remedy in speech recognition:
the filterbank's frequencies are stretched by each factor of `WARPS`, and the factor under
which the acoustic model finds the speech most likely wins.

Causal, so a live stream and a whole recording agree and no frame waits for more audio:
frame t uses the warp chosen at the last checkpoint (every `CHECK` frames) from scored speech
frames before it, and no warp (1.0) until `MIN_SCORED` frames are scored (about a second of
speech). Older scores fade over about `HORIZON` scored frames (20 s of speech), so a new
speaker in a long recording takes over.

    tracker = WarpTracker()
    choice = tracker.advance(first, feats, log_likelihood)  # feats: [len(WARPS), n, dims]
    # choice[i]: index into WARPS for frame first + i; call again with the next frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Stretch factors of the filterbank's frequencies: > 1 for voices whose formants sit higher
# than the acoustic model's typical (adult male-heavy) training speaker.
WARPS = (0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12, 1.16, 1.2)
REFERENCE = WARPS.index(1.0)
EVERY = 8  # one scored frame in 8: the estimate needs few, and each costs len(WARPS) scorings
CHECK = 25  # frames (0.25 s) between changes of the warp
MIN_SCORED = 12  # scored frames before the warp leaves 1.0 (about 1 s of speech)
HORIZON = 240  # scored frames over which old scores fade (about 20 s of speech)
_FADE = float(np.exp(-1.0 / HORIZON))


class WarpTracker:
    """The causal warp choice for one recording or stream (feed it frames in order)."""

    def __init__(self) -> None:
        self.totals = np.zeros(len(WARPS), np.float64)  # faded sum of scored frames' log-likelihoods
        self.scored = 0
        self.choice = REFERENCE

    def advance(self, first: int, feats: np.ndarray,
                log_likelihood: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Warp indices for frames first .. first + n - 1, given their features under every warp
        ([len(WARPS), n, dims], dimension 0 the normalised energy) and the acoustic model's
        per-frame log-likelihood of [k, dims] features."""
        n = feats.shape[1]
        frames = np.arange(first, first + n)
        # Speech frames only (energy above its running mean): pauses say nothing of the voice.
        scored = np.flatnonzero((frames % EVERY == 0) & (feats[REFERENCE, :, 0] > 0))
        # One call for every warp's frames: the per-call overhead outweighs a few frames' work.
        picked = feats[:, scored].reshape(-1, feats.shape[2])
        ll = log_likelihood(picked).reshape(len(WARPS), len(scored))
        out = np.empty(n, np.int64)
        k = 0
        for i, t in enumerate(frames):
            if t % CHECK == 0 and self.scored >= MIN_SCORED:
                self.choice = int(np.argmax(self.totals))
            out[i] = self.choice
            if k < len(scored) and scored[k] == i:
                self.totals = self.totals * _FADE + ll[:, k]
                self.scored += 1
                k += 1
        return out
