"""The two outgoing tracks: packets handed over by the session (encoded in its worker thread,
`encoding`), released on the session's clock.

aiortc pulls each track (`recv`) and sends what it returns at once (a packet is only split into
RTP; a frame would be encoded first), so a track sends a frame when its due time comes: video
frame t and the audio it shows leave together, `LEAD` after the caller's audio for that moment
came in. RTCP sender reports then tie both tracks' timestamps to the same wall clock, which is
what a receiver (a browser) plays them by.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

VIDEO_CLOCK = 90_000  # RTP's video clock
AUDIO_RATE = 48_000
AUDIO_PACKET = 960  # 20 ms, Opus's usual frame

Sent = Callable[[int, float], None]  # (media index, wall time) once a frame leaves
Media = av.frame.Frame | av.Packet


class PacedTrack(MediaStreamTrack):
    """Returns queued (due wall time, index, frame or packet) items no earlier than they are
    due; `on_sent` hears of each (index -1: a further item of the same moment)."""

    def __init__(self, kind: str, on_sent: Sent | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.queue: asyncio.Queue[tuple[float, int, Media] | None] = asyncio.Queue()
        self._on_sent = on_sent

    async def recv(self) -> Media:
        item = await self.queue.get()
        if item is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        due, index, frame = item
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._on_sent is not None:
            self._on_sent(index, time.monotonic())
        return frame

    def finish(self) -> None:
        self.queue.put_nowait(None)


def to_mono(frame: av.AudioFrame) -> np.ndarray:
    """A received frame (any sample format and layout) as mono float32 in [-1, 1]."""
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        x = samples.astype(np.float32).mean(axis=0)
    else:
        x = samples.reshape(-1, channels).astype(np.float32).mean(axis=1)
    if np.issubdtype(samples.dtype, np.integer):
        x /= 32768.0
    return x.astype(np.float32, copy=False)
