"""A WebRTC client of `/api/v1/live` (aiortc), for the tests and `bench/live.py`.

It does what a voice agent would: creates a session, POSTs its SDP offer to the WHIP URL,
streams speech as its microphone track (20 ms packets on the wall clock, then silence, as a
microphone sends), and keeps what comes back: every video frame's arrival time and RTP
timestamp (and the picture, if asked), and the returned audio.

`av_offset` and `sync_lag` turn that into what a viewer would notice: how far the video plays
from its audio when both are played as they arrive, and how many frames the mouth trails (or
leads) the speech heard with it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from services.engine.measures.sync_measure import align_at_lag, pearson

RATE = 48_000
PACKET = 960  # 20 ms
VIDEO_CLOCK = 90_000
FPS = 25


class SpeechTrack(MediaStreamTrack):
    """`speech` (mono float, 48 kHz), then silence forever, in real time; records when each
    packet left (the timeline sample it starts with -> wall time)."""

    kind = "audio"

    def __init__(self, speech: np.ndarray, lead_silence: float = 0.0) -> None:
        super().__init__()
        lead = np.zeros(int(lead_silence * RATE), np.float32)
        self.samples = np.concatenate([lead, np.asarray(speech, np.float32)])
        self.speech_start = lead.size  # timeline sample where the speech begins
        self.sent: list[tuple[int, float]] = []
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / RATE
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.samples[self._n : self._n + PACKET]
        if chunk.size < PACKET:
            chunk = np.concatenate([chunk, np.zeros(PACKET - chunk.size, np.float32)])
        frame = av.AudioFrame.from_ndarray((chunk * 32767).astype(np.int16)[None], format="s16",
                                           layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._n
        frame.time_base = Fraction(1, RATE)
        self.sent.append((self._n, time.monotonic()))
        self._n += PACKET
        return frame


@dataclass
class Received:
    video_arrivals: list[float] = field(default_factory=list)
    video_pts: list[int] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # RGB, when kept
    audio_arrivals: list[float] = field(default_factory=list)
    audio_pts: list[int] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)  # mono float per packet

    def audio_samples(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)


class LiveClient:
    def __init__(self, base_url: str, api_key: str, keep_frames: bool = True,
                 track_type: type[SpeechTrack] = SpeechTrack) -> None:
        """`track_type`: the microphone track made of the speech (a subclass may send packets
        encoded up front, as `bench/live.py` does)."""
        self.track_type = track_type
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60,
                                      headers={"Authorization": f"Bearer {api_key}"})
        self.keep_frames = keep_frames
        self.received = Received()
        self.pc: RTCPeerConnection | None = None
        self.track: SpeechTrack | None = None
        self.session: dict[str, object] = {}
        self.ended = asyncio.Event()  # the server hung up (or the connection failed)
        self._tasks: list[asyncio.Task[None]] = []

    async def create(self, image_url: str, resolution: str = "480p") -> dict[str, object]:
        r = await self.http.post("/api/v1/live", json={"formState": {"image": image_url,
                                                                     "resolution": resolution}})
        r.raise_for_status()
        self.session = r.json()
        return self.session

    async def connect(self, speech: np.ndarray, lead_silence: float = 0.0) -> None:
        pc = RTCPeerConnection()
        self.pc = pc
        self.track = self.track_type(speech, lead_silence)
        pc.addTrack(self.track)
        pc.addTransceiver("video", direction="recvonly")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._collect(track)))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.ended.set()

        await pc.setLocalDescription(await pc.createOffer())
        r = await self.http.post(str(self.session["whip"]), content=pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp"})
        r.raise_for_status()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))

    async def _collect(self, track: MediaStreamTrack) -> None:
        got = self.received
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self.ended.set()
                return
            now = time.monotonic()
            if isinstance(frame, av.VideoFrame):
                got.video_arrivals.append(now)
                got.video_pts.append(int(frame.pts or 0))
                if self.keep_frames:
                    got.frames.append(frame.to_ndarray(format="rgb24"))
            elif isinstance(frame, av.AudioFrame):
                x = frame.to_ndarray().astype(np.float32)
                channels = len(frame.layout.channels)
                mono = x.reshape(-1, channels).mean(axis=1) if not frame.format.is_planar else x.mean(0)
                got.audio_arrivals.append(now)
                got.audio_pts.append(int(frame.pts or 0))
                got.audio.append(mono / 32768.0)

    async def wait_frames(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received.video_pts) < n and time.monotonic() < deadline \
                and not self.ended.is_set():
            await asyncio.sleep(0.05)

    async def end(self) -> dict[str, object]:
        r = await self.http.delete(f"/api/v1/live/{self.session['id']}")
        r.raise_for_status()
        return dict(r.json())

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.aclose()


def video_media_times(got: Received) -> np.ndarray:
    """Each received frame's time on the server's clock, from its RTP timestamp (seconds)."""
    pts = np.asarray(got.video_pts, np.int64)
    return ((pts - pts[0]) % (1 << 32)) / VIDEO_CLOCK


def av_offset(got: Received, window: float | None = None) -> np.ndarray:
    """Video minus audio, in ms, when both play as they arrive (each track's arrival time less
    its media time; the median over the session, or over each `window` seconds)."""
    v_media = video_media_times(got)
    a_pts = np.asarray(got.audio_pts, np.int64)
    a_media = ((a_pts - a_pts[0]) % (1 << 32)) / RATE
    v_lag = np.asarray(got.video_arrivals) - v_media
    a_lag = np.asarray(got.audio_arrivals) - a_media
    if window is None:
        return np.array([1000 * (np.median(v_lag) - np.median(a_lag))])
    out = []
    for lo in np.arange(0.0, float(v_media[-1]), window):
        v = v_lag[(v_media >= lo) & (v_media < lo + window)]
        a = a_lag[(a_media >= lo) & (a_media < lo + window)]
        if v.size and a.size:
            out.append(1000 * (np.median(v) - np.median(a)))
    return np.asarray(out)


def locate(needle: np.ndarray, haystack: np.ndarray, rate: int = RATE) -> float:
    """Where `needle` starts in `haystack` (seconds), by cross-correlating 5 ms envelopes."""
    hop = rate // 200

    def envelope(x: np.ndarray) -> np.ndarray:
        n = x.size // hop
        e = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
        return e - e.mean()

    n, h = envelope(needle), envelope(haystack)
    scores = np.correlate(h, n, mode="valid")
    return float(np.argmax(scores) * hop / rate)


def sync_lag(opening: np.ndarray, truth: np.ndarray, got: Received, speech: np.ndarray,
             max_lag: int = 6) -> tuple[int, float]:
    """(lag in frames, its correlation): how late the mouth (`opening`, per received frame)
    plays behind the speech heard with it (`truth`, per 40 ms of `speech`); positive = late.
    Each received frame is put at its own place on the clock (its RTP timestamp), a frame the
    server dropped left empty, so a dropped frame (a busy machine) does not shift every later
    one against the speech."""
    start = locate(speech, got.audio_samples())  # the speech within the returned audio
    offset = av_offset(got)[0] / 1000
    index = np.round(video_media_times(got) * 25).astype(int)
    placed = np.full(index.max() + 1, np.nan)
    placed[index] = opening
    # The frame on screen when the speech's first frame is heard, by media time.
    measured = placed[max(round((start - offset) * 25), 0):]
    lags = {lag: pearson(*align_at_lag(measured, truth, lag)) for lag in range(-max_lag, max_lag + 1)}
    best = max(lags, key=lambda k: -np.inf if np.isnan(lags[k]) else lags[k])
    return best, lags[best]
