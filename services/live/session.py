"""One live session: a WebRTC peer that takes the caller's audio and sends back the portrait
speaking it, with that same audio.

    offer -> answer (aiortc gathers its ICE candidates first: no trickle, as WHIP allows)
    connected -> the clock starts (t0) -> every 40 ms of timeline: mouth, draw, encode, send

Frame t is computed once the caller's audio reaches 190 ms past it (or the wall clock says it
should have: then silence stands in), drawn and encoded (VP8, and its audio in Opus: one call
in a worker thread, `encoding`), and leaves, with its audio, at t0 + LEAD + t / 25. A frame
that cannot be drawn in time is dropped (its audio still goes), so a slow moment costs
smoothness, never sync. Billing, idle and length limits run beside it (`_meter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from services.core import billing
from services.core.errors import Conflict, InvalidArgument
from services.engine.media import features
from services.engine.media.features import VIDEO_FPS
from services.live.encoding import AudioEncoder, VideoEncoder, watch_requests
from services.live.media import FRAME_SAMPLES, RATE, SOUND_RMS, LiveMedia, samples_for_frame
from services.live.stats import SessionStats
from services.live.tracks import AUDIO_PACKET, PacedTrack, to_mono

log = logging.getLogger(__name__)

# From a moment of the caller's audio (its arrival, at the earliest) to its frame leaving:
# 232.8 ms until the mouth model has its future audio for the frame's start, 20 ms for the
# packet that brings it, the rest for drawing and encoding.
LEAD = 0.265
GRACE = 0.06  # audio this late (past its wall-clock time) is taken as silence meanwhile
MAX_BACKLOG = 0.2  # timeline ahead of the clock by more: silent packets are skipped to catch up
MAX_REANCHOR = 0.25  # the clock's start moves at most this much earlier than first taken
MAX_SDP = 64 * 1024
METER_SECONDS = 0.5

Bill = Callable[[int], Awaitable[bool]]  # charge for n more seconds; False: credits ran out
Report = Callable[["LiveSession"], Awaitable[None]]  # the session changed (heartbeat)


class LiveSession:
    def __init__(self, session_id: str, account: str, resolution: str, media: LiveMedia,
                 executor: Executor, rtc: RTCConfiguration, *, bill: Bill, report: Report,
                 max_seconds: float, idle_seconds: float) -> None:
        self.id = session_id
        self.account = account
        self.resolution = resolution
        self.media = media
        self.stats = SessionStats()
        self.status = "waiting"
        self.end_reason = ""
        self.credits = 0
        self.t0: float | None = None  # wall time of timeline sample 0
        self._first_t0 = 0.0
        self.frames = 0  # frames of timeline produced (sent or dropped)
        self.ended = asyncio.Event()
        self._executor = executor
        self._rtc = rtc
        self._bill = bill
        self._report = report
        self._max_seconds = max_seconds
        self._idle_seconds = idle_seconds
        self._pc: RTCPeerConnection | None = None
        self._billed = 0  # seconds charged so far
        self._audio_in = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.video = PacedTrack("video", on_sent=self._video_left)
        self.audio = PacedTrack("audio", on_sent=self._audio_left)
        self._video_encoder = VideoEncoder()
        self._audio_encoder = AudioEncoder()

    @property
    def seconds(self) -> float:
        return self.frames / VIDEO_FPS

    @property
    def fps(self) -> float:
        """Frames sent per second of timeline (25 when none was dropped)."""
        shown = self.stats.sent + self.stats.dropped
        return VIDEO_FPS * self.stats.sent / shown if shown else 0.0

    def _audio_left(self, index: int, when: float) -> None:
        if index >= 0:
            self.stats.audio_sent(index, when)

    def _video_left(self, index: int, when: float) -> None:
        if index >= 0:
            self.stats.video_sent(index, when)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{name}-{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live session task failed", exc_info=task.exception())
            self._spawn(self.end("error"), "end")

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to the caller's offer; InvalidArgument for an offer we cannot take."""
        if self.status != "waiting" or self._pc is not None:
            raise Conflict("This session already has a connection; create a new session")
        _check_offer(offer_sdp)
        pc = RTCPeerConnection(self._rtc)
        self._pc = pc
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc's parser raises assorted built-in errors
            self._pc = None
            await pc.close()
            raise InvalidArgument(f"The SDP offer could not be parsed: {exc or type(exc).__name__}",
                                  field="sdp") from None
        kinds = {t.kind for t in pc.getTransceivers()}
        if "video" not in kinds:
            self._pc = None
            await pc.close()
            raise InvalidArgument("The SDP offer has no video section: add a video transceiver "
                                  "(recvonly) to receive the portrait", field="sdp")
        watch_requests(pc.addTrack(self.video), self._video_encoder)
        if "audio" in kinds:
            pc.addTrack(self.audio)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._take_audio(track), "audio-in")

    async def _on_state(self) -> None:
        assert self._pc is not None
        state = self._pc.connectionState
        if state == "connected":
            self._start(time.monotonic())
        elif state in ("failed", "closed") and self.status != "ended":
            await self.end("disconnected")

    def _start(self, t0: float) -> None:
        if self.t0 is not None or self.status == "ended":
            return
        self.t0 = self._first_t0 = t0
        self.status = "live"
        self._spawn(self._produce(), "produce")
        self._spawn(self._meter(), "meter")

    async def _take_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            x = to_mono(frame)
            if frame.sample_rate != RATE:
                x = features.resample(x, frame.sample_rate, RATE)
            now = time.monotonic()
            self._start(now - x.size / RATE)  # the first packet may beat the state change
            assert self.t0 is not None
            backlog = self.media.samples / RATE - (now - self.t0)
            if backlog > MAX_BACKLOG and float(np.sqrt(np.mean(x * x))) < SOUND_RMS:
                continue  # the caller's clock runs fast (or a burst came late): catch up in a pause
            self.media.add(x, now)
            # A packet earlier than the clock expects means the clock started late (the first
            # packet was delayed): start it earlier, so no backlog adds latency. Bounded, so a
            # sender faster than real time cannot run the video ahead of it.
            self.t0 = max(min(self.t0, now - self.media.samples / RATE), self._first_t0 - MAX_REANCHOR)
            self._audio_in.set()

    async def _produce(self) -> None:
        assert self.t0 is not None
        loop = asyncio.get_running_loop()
        t = 0
        while self.status == "live":
            need = samples_for_frame(t)
            while not self.media.ready(t):
                now = time.monotonic()
                deadline = self.t0 + need / RATE + GRACE
                if now >= deadline:
                    self.media.add(np.zeros(need - self.media.samples, np.float32), now, real=False)
                    break
                self._audio_in.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._audio_in.wait(), deadline - now)
            ready = time.monotonic()
            due = self.t0 + LEAD + t / VIDEO_FPS
            draw = ready < due + 1 / VIDEO_FPS  # already a frame late: skip drawing this one
            samples = self.media.audio(t)
            video, audio = await loop.run_in_executor(self._executor, self._encode, t, draw, samples)
            done = time.monotonic()
            for k, packets in enumerate(audio):
                for packet in packets:
                    self.audio.queue.put_nowait((due + k * AUDIO_PACKET / RATE, t if k == 0 else -1,
                                                 packet))
            if not video:  # not drawn (or, never seen, the encoder skipped it)
                self.stats.drop()
            else:
                self.stats.frame_done(t, self.media.arrival(t * FRAME_SAMPLES + FRAME_SAMPLES // 2),
                                      ready, done)
                for i, packet in enumerate(video):
                    self.video.queue.put_nowait((due, t if i == 0 else -1, packet))
            t += 1
            self.frames = t

    def _encode(self, t: int, draw: bool, samples: np.ndarray
                ) -> tuple[list[av.Packet], list[list[av.Packet]]]:
        """Frame t's VP8 packets (none when not `draw`n) and its audio's Opus packets, per 20 ms
        (a worker thread: mouth model, drawing and both encoders release the GIL)."""
        i420 = self.media.frame(t, draw)
        video = [] if i420 is None else self._video_encoder.encode(i420, t, VIDEO_FPS)
        audio = [self._audio_encoder.encode(samples[k * AUDIO_PACKET : (k + 1) * AUDIO_PACKET],
                                            t * FRAME_SAMPLES + k * AUDIO_PACKET)
                 for k in range(FRAME_SAMPLES // AUDIO_PACKET)]
        return video, audio

    async def _meter(self) -> None:
        """Bill each second before it streams, and end the session at its limits."""
        if not await self._bill(billing.MINIMUM_SECONDS):
            await self.end("credits_exhausted")
            return
        self._billed = billing.MINIMUM_SECONDS
        while self.status == "live":
            await asyncio.sleep(METER_SECONDS)
            assert self.t0 is not None
            if self.seconds + METER_SECONDS * 2 > self._billed:
                if not await self._bill(1):
                    await self.end("credits_exhausted")
                    return
                self._billed += 1
            quiet_since = max(self.media.last_sound, self.t0)
            if time.monotonic() - quiet_since > self._idle_seconds:
                await self.end("idle")
                return
            if self.seconds >= self._max_seconds:
                await self.end("max_duration")
                return
            await self._report(self)

    async def end(self, reason: str) -> None:
        """End the session (once): tracks close, the peer hangs up, the record says why."""
        if self.status == "ended":
            return
        self.status = "ended"
        self.end_reason = reason
        self.video.finish()
        self.audio.finish()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        if self._pc is not None:
            await self._pc.close()
        # Seconds are billed ahead; what was not streamed (past the 5 s minimum) goes back.
        unused = self._billed - max(billing.MINIMUM_SECONDS, math.ceil(self.seconds - 1e-9))
        if self._billed and unused > 0:
            await self._bill(-unused)
        self.ended.set()
        await self._report(self)


def _check_offer(sdp: str) -> None:
    if not sdp.strip():
        raise InvalidArgument("The request body is empty: send the SDP offer "
                              "(Content-Type: application/sdp)", field="sdp")
    if len(sdp) > MAX_SDP:
        raise InvalidArgument(f"The SDP offer is longer than {MAX_SDP} bytes", field="sdp")
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidArgument("This is not an SDP offer: it must start with `v=0`", field="sdp")
    if "m=" not in sdp:
        raise InvalidArgument("The SDP offer has no media sections", field="sdp")
