"""One session's media timeline: the caller's audio in, mouth frames and the audio to send out.

The timeline is the audio the server has taken in, sample by sample at 48 kHz; it is the clock
both outgoing tracks follow. Video frame t shows samples [1920 t, 1920 (t + 1)) and goes out
with exactly those samples, so received audio and video cannot drift apart whatever the frame
rate does. When the caller sends nothing (muted, a pause in a voice agent's stream, packet
loss), the session pads the timeline with silence to keep up with the wall clock, and the
mouth closes as it would on any silence.

Thread use: `add` runs on the event loop, `frame` in a worker thread (one frame at a time per
session). They share only a queue of 16 kHz chunks (a deque: appending and popping are
atomic); the mouth stream is the worker's alone, so the event loop never waits for the model.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

from services.engine.media.features import VIDEO_FPS
from services.engine.mouth.mouth_model import MouthModel
from services.engine.mouth.mouth_stream import MouthStream, needed_samples
from services.engine.render.streaming import LiveFace
from services.live.downsample import FACTOR, TAPS, Downsampler

RATE = 48_000
FRAME_SAMPLES = RATE // VIDEO_FPS  # 1920: one video frame of audio
SOUND_RMS = 0.003  # about -50 dBFS: quieter packets count as silence (idle timeout)
_FIR_DELAY = (TAPS - 1) // 2  # 48 kHz samples the 16 kHz stream lags behind


def samples_for_frame(t: int) -> int:
    """48 kHz timeline samples that video frame t's mouth needs (190 ms past its end)."""
    return FACTOR * needed_samples(t) + _FIR_DELAY


class LiveMedia:
    def __init__(self, face: LiveFace, model: MouthModel) -> None:
        self.face = face
        self._mouth = MouthStream(model)
        self._down = Downsampler()
        self._audio = np.zeros(0, np.float32)  # timeline samples from `_audio_start` on
        self._audio_start = 0
        self.samples = 0  # timeline length
        self._pending: deque[np.ndarray] = deque()  # 16 kHz audio not yet given to the mouth stream
        self._shapes: dict[int, np.ndarray] = {}
        # (timeline end, start, wall time) per incoming packet, to date a sound's arrival.
        self._arrivals: deque[tuple[int, int, float]] = deque(maxlen=1000)
        self.last_sound = 0.0  # wall time of the last packet louder than SOUND_RMS

    def add(self, audio48k: np.ndarray, now: float, real: bool = True) -> None:
        """Append samples to the timeline (`real`: from the caller, else padding silence)."""
        x = np.asarray(audio48k, np.float32).reshape(-1)
        if x.size == 0:
            return
        self._audio = np.concatenate([self._audio, x])
        self.samples += x.size
        down = self._down.push(x)
        self._pending.append(down)
        if real:
            self._arrivals.append((self.samples, self.samples - x.size, now))
            if float(np.sqrt(np.mean(x * x))) > SOUND_RMS:
                self.last_sound = now

    def ready(self, t: int) -> bool:
        return self.samples >= samples_for_frame(t)

    def arrival(self, sample: int) -> float | None:
        """When the packet holding timeline `sample` arrived (None: padding, or forgotten)."""
        i = bisect.bisect_right(self._arrivals, sample, key=lambda a: a[0])
        if i >= len(self._arrivals) or self._arrivals[i][1] > sample:
            return None
        return self._arrivals[i][2]

    def frame(self, t: int, draw: bool = True) -> np.ndarray | None:
        """Video frame t in I420 (call once `ready(t)`; the face's buffer, valid until the next
        frame: `LiveFace.draw_i420`), or None when not `draw`n (a dropped frame: the mouth
        still advances, so the next one is right)."""
        while self._pending:
            self._mouth.push(self._pending.popleft())
        for step in self._mouth.ready():
            self._shapes[step.index] = step.shape
        shape = self._shapes.pop(t)
        for old in [k for k in self._shapes if k < t]:
            del self._shapes[old]
        return self.face.draw_i420(t, self.face.styled(shape)) if draw else None

    def audio(self, t: int) -> np.ndarray:
        """The timeline samples that go out with frame t; earlier ones are forgotten."""
        lo = t * FRAME_SAMPLES - self._audio_start
        out = self._audio[lo : lo + FRAME_SAMPLES]
        self._audio, self._audio_start = self._audio[lo + FRAME_SAMPLES:], (t + 1) * FRAME_SAMPLES
        return out
