"""48 kHz -> 16 kHz for the mouth model, one packet at a time, with no edge effects.

WebRTC audio arrives as 20 ms Opus frames at 48 kHz; the phonetic front end reads 16 kHz. A
linear-phase low-pass FIR (windowed sinc, 97 taps) keeps its state across packets and takes
every third sample. Its delay is exactly 48 input samples = 16 output samples, which are
dropped, so output sample j is input sample 3j: the two timelines stay aligned to the sample.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FACTOR = 3
TAPS = 97  # odd: the delay (TAPS - 1) / 2 = 48 is a whole number of output samples
CUTOFF_HZ = 7200.0  # below 8 kHz (16 kHz's Nyquist), above the front end's 6800 Hz filters
RATE_IN = 48_000


@lru_cache(maxsize=1)
def _kernel() -> np.ndarray:
    n = np.arange(TAPS) - (TAPS - 1) / 2
    h = np.sinc(2 * CUTOFF_HZ / RATE_IN * n) * np.blackman(TAPS)
    return (h / h.sum()).astype(np.float32)


class Downsampler:
    def __init__(self) -> None:
        self._tail = np.zeros(TAPS - 1, np.float32)  # the last inputs the next output reads
        self._phase = 0  # input samples consumed, mod FACTOR, where the next output lands
        self._skip = (TAPS - 1) // 2 // FACTOR  # outputs still owed to the filter's delay

    def push(self, audio48k: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._tail, np.asarray(audio48k, np.float32).reshape(-1)])
        full = np.convolve(x, _kernel(), mode="valid")  # one value per new input sample
        out = full[(-self._phase) % FACTOR :: FACTOR]
        self._phase = (self._phase + len(x) - len(self._tail)) % FACTOR
        self._tail = x[len(x) - (TAPS - 1):]
        if self._skip:
            dropped = min(self._skip, len(out))
            out, self._skip = out[dropped:], self._skip - dropped
        return out.astype(np.float32)
