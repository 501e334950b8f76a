"""A feature's own frame: origin between two landmarks, `s` along them, `t` across, in units of
half their distance. The mouth and the eyes are warped in such frames, so one formula serves
every face size and head tilt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LocalAxes:
    center: np.ndarray  # (2,) pixels
    axis_s: np.ndarray  # (2,) unit, from the first point towards the second
    axis_t: np.ndarray  # (2,) unit, `axis_s` turned a quarter (down for a level face)
    half: float  # pixels

    @classmethod
    def between(cls, a: np.ndarray, b: np.ndarray) -> LocalAxes:
        center = (a + b) / 2
        half = max(float(np.linalg.norm(b - a)) / 2, 1.0)
        axis_s = (b - a) / (2 * half)
        return cls(center, axis_s, np.array([-axis_s[1], axis_s[0]]), half)

    def curve(self, points: np.ndarray, indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks `indices` of `points` as (s, t), sorted along `s`."""
        rel = points[list(indices)] - self.center
        s, t = rel @ self.axis_s / self.half, rel @ self.axis_t / self.half
        order = np.argsort(s)
        return s[order], t[order]
