"""What a session measures about itself: latency by stage, A/V offset, frames sent and dropped.

Latency is from a sound's arrival (the packet holding the middle of frame t's audio) to that
frame leaving for the encoder, split into: `lookahead` (waiting for the 190 ms of future audio
the mouth model reads), `compute` (mouth model and drawing, queueing for a core included) and
`pacing` (held until due, so audio and video leave together). The A/V offset is when video
frame t left minus when the audio it shows left. Both also go to Prometheus.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from services.core import metrics

STAGES = ("lookahead", "compute", "pacing", "total")
KEEP = 15_000  # samples kept per figure: 10 minutes of frames


class SessionStats:
    def __init__(self) -> None:
        self.latency: dict[str, deque[float]] = {s: deque(maxlen=KEEP) for s in STAGES}
        self.offsets: deque[float] = deque(maxlen=KEEP)
        self.sent = 0
        self.dropped = 0
        self._audio_sent: dict[int, float] = {}  # frame -> when its audio left
        self._timing: dict[int, tuple[float, float, float]] = {}  # frame -> arrival, ready, done

    def frame_done(self, t: int, arrival: float | None, ready: float, done: float) -> None:
        if arrival is not None:
            self._timing[t] = (arrival, ready, done)

    def audio_sent(self, t: int, when: float) -> None:
        self._audio_sent[t] = when

    def video_sent(self, t: int, when: float) -> None:
        self.sent += 1
        metrics.live_frames.inc()
        audio = self._audio_sent.pop(t, None)
        if audio is not None:
            self.offsets.append(when - audio)
        for old in [k for k in self._audio_sent if k < t - 50]:
            del self._audio_sent[old]
        timing = self._timing.pop(t, None)
        if timing is None:
            return
        arrival, ready, done = timing
        for stage, seconds in (("lookahead", ready - arrival), ("compute", done - ready),
                               ("pacing", when - done), ("total", when - arrival)):
            self.latency[stage].append(seconds)
            metrics.live_latency.labels(stage).observe(max(seconds, 0.0))

    def drop(self) -> None:
        self.dropped += 1
        metrics.live_dropped_frames.inc()

    def summary(self) -> dict[str, float]:
        """p50/p99 per stage in ms, and the A/V offset's p50 and largest size in ms."""
        out: dict[str, float] = {}
        for stage, values in self.latency.items():
            if values:
                p50, p99 = np.percentile(np.asarray(values), [50, 99])
                out[f"{stage}_p50"], out[f"{stage}_p99"] = 1000 * p50, 1000 * p99
        if self.offsets:
            offsets = np.asarray(self.offsets)
            out["av_offset_p50"] = 1000 * float(np.median(offsets))
            out["av_offset_max"] = 1000 * float(np.abs(offsets).max())
        return out
