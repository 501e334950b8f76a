"""Mouth shapes for a live stream: the same front end and model as `MouthModel.predict`, run
incrementally on audio as it arrives.

    push(16 kHz samples) -> ready() -> [MouthStep per new 25 fps frame]

Every stage is the batch one (`phone_posteriors.warped_cepstra`, one per speaker warp, `normalize`,
`deltas`, the causal `speaker_warp.WarpTracker`, `posteriors`, the ONNX model), run over a
stretch of new frames plus just the context it reads, so frame t equals frame t of a
whole-recording run (`tests/unit/test_mouth_stream.py` checks it). Frame t (covering
40t..40t+40 ms) is ready once the audio reaches `needed_samples(t)`: 232.8 ms past the frame's
start, i.e. 30 ms (deltas) + 160 ms (network) + half an analysis window past its end.
Only a few seconds of history are kept, so memory stays flat over hours.

BLAS threads: the matrix products are small, so a process running streams should keep BLAS on
one thread, once (`threadpool_limits(1, "blas")` at start, as `lipsync serve live` does): a
limit taken per call scans the loaded libraries each time and costs more than the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.engine.media.features import HOP
from services.engine.mouth import phone_posteriors as pp
from services.engine.mouth import speaker_warp
from services.engine.mouth.mouth_model import FEATURES_PER_FRAME, MouthModel, softmax
from services.engine.mouth.mouth_track import shapes_for_render
from services.engine.training.net import LOOKAHEAD_SHIFT, receptive_field

HALF_WINDOW = pp.FRAME - pp.FRAME // 2  # samples a feature frame reads past its centre (205)
# Feature frames a model window needs past the last output frame's own four, and before the
# first: what the convolutions read (`net.receptive_field`, shifted by the delay).
MODEL_FUTURE = receptive_field() - LOOKAHEAD_SHIFT  # 16
MODEL_PAST = 32  # >= receptive_field + LOOKAHEAD_SHIFT, a multiple of 4 (as `mouth_model.CONTEXT`)
KEEP_AUDIO = 4 * HOP  # samples kept before the next cepstrum's window (pre-emphasis reads one)


@dataclass(frozen=True)
class MouthStep:
    """One video frame's mouth: (open, width, round) as drawn, and the viseme probabilities."""

    index: int
    shape: np.ndarray  # [3]
    visemes: np.ndarray  # [V]


def needed_samples(frame: int) -> int:
    """16 kHz samples (from the stream's start) that video frame `frame` needs."""
    last_feature = FEATURES_PER_FRAME * frame + FEATURES_PER_FRAME - 1 + MODEL_FUTURE
    return HOP * (last_feature + pp.LOOKAHEAD_FRAMES) + HALF_WINDOW


class MouthStream:
    """Incremental `MouthModel.predict` for one live stream (not thread-safe: one per session)."""

    def __init__(self, model: MouthModel) -> None:
        self.model = model
        self._audio = np.zeros(0, np.float32)  # samples from `_audio_start` on
        self._audio_start = 0
        self._received = 0  # samples pushed in all
        # Cepstra and normalised cepstra under every speaker warp: [warps, frames, 13].
        warps = len(speaker_warp.WARPS)
        self._cep = np.zeros((warps, 0, 13), np.float32)  # cepstra from `_cep_start` on
        self._cep_start = 0
        self._norm = np.zeros((warps, 0, 13), np.float32)  # normalised from `_norm_start` on
        self._norm_start = 0
        self._feat = np.zeros((0, pp.N_FEATURES), np.float32)  # features from `_feat_start` on
        self._feat_start = 0
        self._warp = speaker_warp.WarpTracker()
        self._frame = 0  # the next video frame to produce
        self._last_raw: tuple[np.ndarray, np.ndarray] | None = None  # previous frame, for smoothing

    @property
    def received(self) -> int:
        return self._received

    @property
    def next_frame(self) -> int:
        return self._frame

    def push(self, audio16k: np.ndarray) -> None:
        chunk = np.asarray(audio16k, np.float32).reshape(-1)
        self._audio = np.concatenate([self._audio, chunk])
        self._received += chunk.size

    def ready(self) -> list[MouthStep]:
        """Every video frame the audio pushed so far makes final, in order."""
        last = self._frame
        while needed_samples(last) <= self._received:
            last += 1
        if last == self._frame:
            return []
        return self._frames(self._frame, last)

    def _frames(self, first: int, end: int) -> list[MouthStep]:
        feat_end = FEATURES_PER_FRAME * end + MODEL_FUTURE  # features the model needs
        self._features_until(feat_end)
        lo = max(FEATURES_PER_FRAME * first - MODEL_PAST, 0)
        window = self._feat[lo - self._feat_start : feat_end - self._feat_start]
        # The net delays its input by LOOKAHEAD_SHIFT frames and drops that many from the end,
        # so the window carries as many more; they are never read (any values would do).
        window = np.concatenate([window, np.repeat(window[-1:], LOOKAHEAD_SHIFT, axis=0)])
        shapes, logits = self.model.backend.infer(window[None])
        offset = lo // FEATURES_PER_FRAME
        raw = shapes[0, first - offset : end - offset]
        probs = softmax(logits[0, first - offset : end - offset])
        steps = []
        for i in range(end - first):
            prev = self._last_raw or (raw[i], probs[i])
            drawn = shapes_for_render(np.stack([prev[0], raw[i]]), np.stack([prev[1], probs[i]]),
                                      causal=True)[-1]
            self._last_raw = (raw[i], probs[i])
            steps.append(MouthStep(first + i, drawn, probs[i]))
        self._frame = end
        self._forget(FEATURES_PER_FRAME * end - MODEL_PAST)
        return steps

    def _features_until(self, end: int) -> None:
        """Phonetic features of every frame before `end` (its audio is there)."""
        have = self._feat_start + len(self._feat)
        if end <= have:
            return
        self._norm_until(end + pp.LOOKAHEAD_FRAMES)
        # Deltas read 3 normalised frames either side (repeating frame 0 at the start).
        lo = max(have - pp.LOOKAHEAD_FRAMES, 0)
        part = self._norm[:, lo - self._norm_start : end + pp.LOOKAHEAD_FRAMES - self._norm_start]
        feats = pp.deltas(part)[:, have - lo : end - lo]
        choice = self._warp.advance(have, feats, pp.frame_log_likelihoods)
        chosen = feats[choice, np.arange(end - have)]
        self._feat = np.concatenate([self._feat, pp.posteriors(chosen)])

    def _norm_until(self, end: int) -> None:
        have = self._norm_start + self._norm.shape[1]
        if end <= have:
            return
        self._cepstra_until(end)
        # The running mean reads the past CMN_PAST frames; from frame CMN_PAST on, any
        # CMN_PAST + n of them give the same values for the last n (the prior has faded).
        n = end - have
        lo = 0 if end <= pp.CMN_PAST + n else end - pp.CMN_PAST - n
        past = self._cep[:, lo - self._cep_start : end - self._cep_start]
        normalized = pp.normalize(past)[:, -n:]
        self._norm = np.concatenate([self._norm, normalized], axis=1)

    def _cepstra_until(self, end: int) -> None:
        have = self._cep_start + self._cep.shape[1]
        if end <= have:
            return
        # Cepstra of samples from two frames before `have` on: their frames 2.. are centred on
        # have, have + 1, ... and read only real (or, before the start, zero) samples.
        start = HOP * (have - 2)
        stop = HOP * (end - 1) + HALF_WINDOW
        segment = self._samples(start, stop)
        cep = pp.warped_cepstra(segment)[:, 2 : 2 + end - have]
        self._cep = np.concatenate([self._cep, cep], axis=1)

    def _samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the stream; zeros before its start."""
        lead = max(-start, 0)
        lo = max(start, 0) - self._audio_start
        assert lo >= 0, "audio needed again after it was dropped"
        body = self._audio[lo : stop - self._audio_start]
        return np.concatenate([np.zeros(lead, np.float32), body]) if lead else body

    def _forget(self, feature_floor: int) -> None:
        """Drop what no later frame reads again."""
        feature_floor = max(feature_floor, 0)
        cut = feature_floor - self._feat_start
        if cut > 0:
            self._feat, self._feat_start = self._feat[cut:], feature_floor
        norm_floor = max(self._norm_start + self._norm.shape[1] - pp.LOOKAHEAD_FRAMES * 2, 0)
        cut = norm_floor - self._norm_start
        if cut > 0:
            self._norm, self._norm_start = self._norm[:, cut:], norm_floor
        cep_end = self._cep_start + self._cep.shape[1]
        cep_floor = max(cep_end - pp.CMN_PAST - 64, 0)
        cut = cep_floor - self._cep_start
        if cut > 0:
            self._cep, self._cep_start = self._cep[:, cut:], cep_floor
        audio_floor = max(HOP * (cep_end - 2) - KEEP_AUDIO, 0)
        cut = audio_floor - self._audio_start
        if cut > 0:
            self._audio, self._audio_start = self._audio[cut:], audio_floor
