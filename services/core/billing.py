"""API credits, as the public API documents them.

2 credits per second of output at 480p, 4 at 720p, at least 5 seconds billed; seconds are
rounded up. For lipsync-image-multi the output is the longer track (`meanwhile`) or both tracks
one after the other; the cost follows the output's length either way. Failed jobs cost nothing.

The output's length is only known once the audio is fetched, so submitting reserves the minimum
(5 s) and the worker settles the rest before rendering; a job the account cannot pay for then
fails with a clear error and is refunded.
"""

from __future__ import annotations

import math

from services.core.vocabulary import Resolution

CREDITS_PER_SECOND: dict[str, int] = {Resolution.P480: 2, Resolution.P720: 4}
MINIMUM_SECONDS = 5


def cost(seconds: float, resolution: str) -> int:
    billed = max(MINIMUM_SECONDS, math.ceil(seconds - 1e-9))
    return billed * CREDITS_PER_SECOND[resolution]


def minimum_cost(resolution: str) -> int:
    return MINIMUM_SECONDS * CREDITS_PER_SECOND[resolution]
