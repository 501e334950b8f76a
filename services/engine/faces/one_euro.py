"""One Euro filter (Casiez et al., CHI 2012) over arrays of points.

A low-pass filter whose cutoff rises with speed: still points are held steady (no jitter), moving
points follow with little lag. Speed is measured per point (the norm over the last axis), so lips
that open quickly are not held back by a still forehead.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt))


class OneEuroFilter:
    """`min_cutoff` (Hz) sets the smoothing at rest, `beta` how fast the cutoff rises with speed
    (speed in `scale` units per second), `d_cutoff` (Hz) the smoothing of the speed estimate."""

    def __init__(self, min_cutoff: float = 0.5, beta: float = 30.0, d_cutoff: float = 8.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filtered copy of `x` observed at time `t` seconds; `scale` normalises speed (e.g. the
        face size in pixels, so the same settings suit small and large faces)."""
        value = np.asarray(x, np.float64)
        if self._x is None or self._dx is None or self._x.shape != value.shape:
            self._x, self._dx, self._t = value.copy(), np.zeros_like(value), t
            return value.astype(x.dtype)
        dt = t - self._t
        if dt <= 0:  # a repeated timestamp: nothing new to learn about speed
            return self._x.astype(x.dtype)
        rate = (value - self._x) / (dt * max(scale, 1e-9))
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (rate - self._dx)
        speed = np.linalg.norm(self._dx, axis=-1, keepdims=True) if value.ndim > 1 else np.abs(self._dx)
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + a * (value - self._x)
        self._t = t
        return self._x.astype(x.dtype)
